// alp dashboard: cookie-authenticated fetch() for the buttons/forms, and polling of the
// pool status JSON. Progress bars are updated in place; when the page structure changes
// (the status "version"), the live sections are re-fetched and swapped without a reload.
(() => {
  "use strict";
  const main = document.getElementById("main");
  const flashBox = document.getElementById("flash");

  function flash(message, isError) {
    if (!flashBox) return;
    flashBox.textContent = message;
    flashBox.classList.toggle("is-error", Boolean(isError));
    flashBox.setAttribute("role", isError ? "alert" : "status");
  }

  async function send(method, url, body) {
    const headers = { "X-ALP-CSRF": "1", Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(url, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await r.json(); } catch (_) { /* not JSON */ }
    if (r.status === 401) { location.assign("/login?next=" + encodeURIComponent(location.pathname)); }
    if (!r.ok) throw new Error((data && data.detail) || `request failed (HTTP ${r.status})`);
    return data;
  }

  function setText(sel, text) {
    const el = document.querySelector(sel);
    if (el && el.textContent !== text) el.textContent = text;
  }

  function applyProgress(s) {
    for (const j of s.jobs) {
      const bar = document.querySelector(`progress[data-job="${j.id}"]`);
      if (bar) bar.value = j.progress;
      const pct = Math.round(j.progress * 100);
      setText(`[data-job-text="${j.id}"]`, `${pct}%` + (j.message ? ` — ${j.message}` : ""));
    }
    for (const p of (s.shards ? s.shards.passes : [])) {  // one bar per scoring pass
      const bar = document.querySelector(`progress[data-shards="${p.pass_no}"]`);
      if (bar) { bar.max = p.total; bar.value = p.done; }
      setText(`[data-shards-text="${p.pass_no}"]`, `${p.done} / ${p.total} done` +
        (p.failed ? `, ${p.failed} failed` : ""));
    }
    for (const [name, n] of Object.entries(s.counts)) setText(`[data-count="${name}"]`, String(n));
    if (s.labelstudio) {
      for (const name of ["pushed", "annotated", "skipped", "remaining"]) {
        setText(`[data-ls="${name}"]`, String(s.labelstudio[name]));
      }
    }
  }

  async function swapLive() {
    const r = await fetch(location.href, { credentials: "same-origin" });
    if (r.redirected && new URL(r.url).pathname === "/login") {
      location.assign("/login?next=" + encodeURIComponent(location.pathname));
      return;
    }
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    const focusedId = document.activeElement && document.activeElement.id;
    for (const el of document.querySelectorAll("[data-live]")) {
      const fresh = doc.getElementById(el.id);
      if (fresh) el.replaceWith(document.importNode(fresh, true));
    }
    const newMain = doc.getElementById("main");
    // a page that stops refreshing when its work is done (a backtest) shows the results
    if (newMain && main.dataset.reloadDone !== undefined && !newMain.dataset.refreshMs) {
      location.reload();
      return;
    }
    if (newMain) main.dataset.version = newMain.dataset.version;
    if (focusedId) { const f = document.getElementById(focusedId); if (f) f.focus(); }
  }

  async function poll() {
    const url = main.dataset.statusUrl;
    try {
      const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (r.status === 401) { location.assign("/login?next=" + encodeURIComponent(location.pathname)); return; }
      if (r.ok) {
        const s = await r.json();
        applyProgress(s);
        if (s.version !== main.dataset.version) await swapLive();
        setText("#updated", "at " + new Date().toLocaleTimeString());
      }
    } catch (_) {
      setText("#updated", "— connection lost, retrying");
    }
    setTimeout(poll, Number(main.dataset.pollMs) || 2000);
  }

  // pages without a status URL (the overview) re-fetch their live sections periodically
  async function refresh() {
    try {
      await swapLive();
      setText("#updated", "at " + new Date().toLocaleTimeString());
    } catch (_) {
      setText("#updated", "— connection lost, retrying");
    }
    setTimeout(refresh, Number(main.dataset.refreshMs) || 5000);
  }

  document.addEventListener("click", async (ev) => {
    const button = ev.target.closest("button[data-post]");
    if (!button) return;
    button.disabled = true;
    try {
      const body = button.dataset.body === undefined ? undefined : JSON.parse(button.dataset.body);
      const data = await send("POST", button.dataset.post, body);
      // name the cycle by its pool-wide index (the number shown everywhere), never its id
      const index = data && data.cycle && data.cycle.index;
      const done = button.dataset.done || "done";
      flash(button.dataset.flash ||
        (Number.isInteger(index) ? `Cycle #${index} ${done}` : `Cycle ${done}`));
      if (main.dataset.statusUrl || button.dataset.reload !== undefined) await swapLive();
    } catch (err) {
      flash(err.message, true);
      button.disabled = false;
    }
  });

  const form = document.getElementById("settings-form");
  if (form) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!form.reportValidity()) return;
      const settings = {
        strategy: form.elements.strategy.value,
        batch_size: Number(form.elements.batch_size.value),
        auto_advance: form.elements.auto_advance.checked,
      };
      try {
        await send("PATCH", form.dataset.patch, { settings });
        flash("Settings saved");
      } catch (err) {
        flash(err.message, true);
      }
    });
  }

  if (main && main.dataset.statusUrl) setTimeout(poll, Number(main.dataset.pollMs) || 2000);
  else if (main && main.dataset.refreshMs) setTimeout(refresh, Number(main.dataset.refreshMs));
})();
