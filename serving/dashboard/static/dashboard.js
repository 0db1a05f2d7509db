// reco dashboard: moves a training run's progress bar and log while the run runs, and reloads the page
// when it ends (to show the quality gate's verdict). Pages work without it: they show where the run was.
"use strict";
(function () {
  const FINISHED = ["succeeded", "failed", "cancelled"];
  document.querySelectorAll("[data-run-progress]").forEach(function (box) {
    const url = box.getAttribute("data-run-progress");
    const bar = box.querySelector("progress");
    const label = box.querySelector("[data-label]");
    const log = document.querySelector("[data-log]");
    const stateText = document.querySelector("[data-state]");
    let failures = 0;
    async function tick() {
      let run;
      try {
        const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (!response.ok) throw new Error("HTTP " + response.status);
        run = await response.json();
        failures = 0;
      } catch (error) {
        failures += 1;
        label.textContent = "cannot read the run's progress (" + error.message + "); retrying";
        setTimeout(tick, Math.min(10000, 1000 * 2 ** failures));
        return;
      }
      if (run.total) { bar.max = run.total; bar.value = run.done; }
      label.textContent = run.state + (run.stage ? ": " + run.stage : "") +
        (run.total ? " · " + run.done + " / " + run.total + " steps (" + run.percent + "%)" : "");
      if (log && run.log.length) log.textContent = run.log.join("\n") + "\n";
      if (stateText) stateText.textContent = run.state;
      if (FINISHED.includes(run.state)) {
        box.setAttribute("data-finished", run.state);
        setTimeout(function () { window.location.reload(); }, 500);
        return;
      }
      setTimeout(tick, 1000);
    }
    tick();
  });
})();
