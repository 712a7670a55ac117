// Messages a person can read: server errors (bad CSV, limits, divergence), connection trouble, hints.

export function mountMessages(root, actions) {
  let drawnKey = "";
  return {
    update(s) {
      const key = s.messages.map((m) => m.id).join(",") + `|${s.connection}|${JSON.stringify(s.health)}`;
      if (key === drawnKey) return;
      drawnKey = key;
      const items = s.messages.map((m) => {
        const div = document.createElement("div");
        div.className = `message ${m.level}`;
        div.setAttribute("role", m.level === "error" ? "alert" : "status");
        div.dataset.id = String(m.id);
        const text = document.createElement("span");
        text.className = "message-text";
        text.textContent = m.text;
        const close = document.createElement("button");
        close.type = "button";
        close.className = "message-close";
        close.textContent = "×";
        close.setAttribute("aria-label", "dismiss");
        close.addEventListener("click", () => actions.dismiss(m.id));
        div.append(text, close);
        return div;
      });
      if (s.health) {
        const div = document.createElement("div");
        div.className = "message error health";
        div.setAttribute("role", "alert");
        div.textContent = `The server's storage is ${s.health.status}: ${s.health.reason || "it gave no reason"}`;
        items.push(div);
      }
      if (s.connection === "closed" && s.run) {
        const div = document.createElement("div");
        div.className = "message info";
        div.setAttribute("role", "status");
        div.textContent = "The live stream was interrupted; reconnecting…";
        items.push(div);
      }
      root.replaceChildren(...items);
    },
  };
}
