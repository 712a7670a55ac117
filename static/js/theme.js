// Light or dark: the system's choice (prefers-color-scheme) unless the person chose with the toggle, which
// the browser remembers. The theme in effect is <html data-theme="…"> for the CSS and state.theme for the
// canvases and charts, which read their colours when it changes.

const KEY = "bpv-theme";
const system = window.matchMedia("(prefers-color-scheme: dark)");
const systemTheme = () => (system.matches ? "dark" : "light");

let choice = null; // "light" | "dark" when the person chose, else null: follow the system
try {
  const v = localStorage.getItem(KEY);
  if (v === "light" || v === "dark") choice = v;
} catch {
  /* no storage: follow the system */
}

/** The theme in effect: the person's choice, else the system's. */
export const currentTheme = () => choice || systemTheme();

function apply(store) {
  const theme = currentTheme();
  document.documentElement.dataset.theme = theme;
  if (store && store.state.theme !== theme) store.set({ theme });
}

/** Follow the system and the toggle button. */
export function watchTheme(store, button) {
  const label = () => {
    const next = currentTheme() === "dark" ? "light" : "dark";
    button.title = `Switch to the ${next} theme (now ${choice ? "your choice" : "following the system"})`;
    button.setAttribute("aria-label", `switch to the ${next} theme`);
    button.textContent = currentTheme() === "dark" ? "☀" : "☾";
  };
  system.addEventListener("change", () => {
    apply(store);
    label();
  });
  button.addEventListener("click", () => {
    const next = currentTheme() === "dark" ? "light" : "dark";
    choice = next === systemTheme() ? null : next; // the system's own choice: follow it again
    try {
      if (choice) localStorage.setItem(KEY, choice);
      else localStorage.removeItem(KEY);
    } catch {
      /* storage refused: the choice lasts for this page */
    }
    apply(store);
    label();
  });
  label();
  apply(store);
}

apply(null); // before the page's own content is first drawn
