"""Words that carry no request: politeness, pronouns, articles, verbs of wanting. A message
made only of them and of understood words is understood in full."""

FILLER = frozenset(
    """
    je j me m moi tu te toi il elle on nous vous ils elles y en ce c ca cela ceci cet cette ces
    le la les l un une des de du d a au aux et ou ni mais donc or car pour par sur dans avec sans
    chez vers que qu qui quoi dont est sont suis es etre ai as avons avez ont avoir fait faire
    mon ma mes ton ta tes son sa ses notre nos votre vos leur leurs
    voudrais voudrait voulais veux veut voulons voulez aimerais aimerait souhaite souhaiterais
    souhaitons peux peut pouvez pourriez pourrais pouvons merci svp stp plait sil s il vous
    bonjour bonsoir salut coucou hello hi hey please thanks thank pls cheers dear
    enfant enfants fille filles fils garcon petit petite gamin gamins fiston
    aussi egalement encore juste seulement bien alors bon ben euh hum ah oh
    i me my mine you your we our us he she him her his it its they them their
    the a an and or but so to of for in on at by with from into about as
    would like want wants need needs could can will shall should may might please do does did
    is are was were be been am get put have has had let lets
    kid kids child children daughter son boy girl
    also too just only please thanks
    voila svp merci stp
    inscrire inscris reserve reserver mettre mets met
    tout toute toutes tous all every each
    """.split()
)

# Words that mean a fragment was meant as a date: quoted with the date examples.
DATE_HINTS = (
    "lundi",
    "mardi",
    "mercredi",
    "jeudi",
    "vendredi",
    "samedi",
    "dimanche",
    "janv",
    "fev",
    "mars",
    "avr",
    "mai",
    "juin",
    "juil",
    "aout",
    "sept",
    "oct",
    "nov",
    "dec",
    "semaine",
    "mois",
    "jour",
    "demain",
    "hier",
    "prochain",
    "vacances",
    "week",
    "month",
    "day",
    "tomorrow",
    "next",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "holiday",
    "noel",
    "paques",
    "toussaint",
)
