// Rosters: a "Print" button (hidden without JavaScript: the browser's own print works too).
"use strict";
document.querySelectorAll("[data-print]").forEach((button) => {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
});
