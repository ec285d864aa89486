// Attendance on a tablet: a tap marks the child without reloading the page. Without
// JavaScript each button posts its little form and the page comes back (same result).
"use strict";

function showMarks(data) {
  for (const [key, value] of Object.entries(data.counts || {})) {
    const cell = document.querySelector(`[data-count="${key}"]`);
    if (cell) cell.textContent = String(value);
  }
  // "Tous présents (N à pointer)": N follows the taps; with nobody left it goes, as after a
  // reload (the page renders it only while someone is unmarked).
  const all = document.querySelector("form.attendance-all");
  const unmarked = data.counts && data.counts.unmarked;
  if (all && typeof unmarked === "number") {
    all.hidden = unmarked === 0;
    const button = all.querySelector("button");
    if (button) button.textContent = button.textContent.replace(/\d+/, String(unmarked));
  }
}

document.querySelectorAll("form[data-mark]").forEach((form) => {
  form.addEventListener("submit", async (event) => {
    const button = event.submitter;
    if (!button || !window.fetch) return; // let the browser post the form
    event.preventDefault();
    const body = new FormData(form);
    body.set(button.name, button.value);
    const message = document.querySelector("[data-message]");
    form.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      const data = await response.json();
      if (!response.ok) {
        if (message) message.textContent = data.error || "";
        return;
      }
      if (message) message.textContent = "";
      form.querySelectorAll("button[name=status]").forEach((other) => {
        other.setAttribute("aria-pressed", other === button ? "true" : "false");
      });
      const item = form.closest("li");
      if (item) {
        item.className = item.className.replace(/\bmarked-\w+/g, "").trim();
        item.classList.add(`marked-${button.value}`);
      }
      showMarks(data);
    } catch (error) {
      form.submit(); // the network or the page is odd: fall back to a plain post
    } finally {
      form.removeAttribute("aria-busy");
    }
  });
});
