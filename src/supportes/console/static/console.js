// The console's one script: draws the charts, drives time travel, the log check and the live
// queue. No HTML is ever built from data: text goes in with textContent only.
"use strict";

(function () {
  const csrf = () => {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  };

  const text = (id, value) => {
    const el = document.getElementById(id);
    if (el) el.textContent = value === null || value === undefined || value === "" ? "—" : String(value);
  };

  // Charts: each [data-chart] names the JSON block holding its Vega-Lite spec.
  function drawCharts() {
    const charts = window.supportesCharts;
    document.querySelectorAll("[data-chart]").forEach((el) => {
      const source = document.getElementById(el.dataset.chart);
      if (!source || !charts) return;
      const spec = JSON.parse(source.textContent);
      charts
        .vegaEmbed(el, spec, {
          renderer: "svg",
          actions: false,
          ast: true,
          expr: charts.expressionInterpreter,
          defaultStyle: false,
          tooltip: false,
        })
        .then(() => {
          el.dataset.drawn = "true";
        })
        .catch((error) => {
          el.dataset.drawn = "failed";
          el.textContent = "The chart could not be drawn: " + error;
        });
    });
  }

  // Time travel: the slider picks an event; the case as it was right after it is fetched.
  function timeTravel() {
    const slider = document.getElementById("travel");
    const source = document.getElementById("instants");
    if (!slider || !source) return;
    const instants = JSON.parse(source.textContent);
    let pending = null;
    let asked = 0;
    const show = async () => {
      const index = Number(slider.value) - 1;
      const at = instants[index];
      const ask = ++asked;
      text("travel-version", index + 1);
      const response = await fetch(slider.dataset.url + "?at=" + encodeURIComponent(at), {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (ask !== asked) return; // a later move answered first
      if (!response.ok) {
        text("as-of-status", "(could not load: " + response.status + ")");
        return;
      }
      const then = await response.json();
      text("as-of-at", then.at);
      text("as-of-status", then.state.status);
      text("as-of-owner", then.state.owner_id);
      text("as-of-responsible", then.responsible);
      text("as-of-event", then.last_event);
      slider.dataset.shownVersion = String(then.version);
    };
    slider.addEventListener("input", () => {
      clearTimeout(pending);
      pending = setTimeout(show, 120);
    });
  }

  // The log check: on demand, because it reads the case's events back from Kafka.
  function verifyButton() {
    const button = document.getElementById("verify");
    const badge = document.getElementById("verify-badge");
    if (!button || !badge) return;
    button.addEventListener("click", async () => {
      button.disabled = true;
      badge.className = "badge badge-unknown";
      badge.textContent = "checking against the log…";
      try {
        const response = await fetch(button.dataset.url, {
          method: "POST",
          headers: { Accept: "application/json", "X-CSRF-Token": csrf() },
          credentials: "same-origin",
        });
        const answer = await response.json();
        if (!response.ok) {
          badge.className = "badge badge-failed";
          badge.textContent = "check failed: " + (answer.error ? answer.error.message : response.status);
        } else if (answer.ok) {
          badge.className = "badge badge-ok";
          badge.textContent = "verified against the log: " + answer.events + " events, " + answer.checked_at;
        } else {
          const first = answer.first_difference;
          badge.className = "badge badge-failed";
          badge.textContent =
            "differs from the log at version " + first.version + " (partition " + first.partition +
            ", offset " + first.offset + "): " + first.problem;
        }
      } finally {
        button.disabled = false;
      }
    });
  }

  // The queue: the table is replaced by what the server streams whenever the queue changes.
  function liveQueue() {
    const table = document.getElementById("queue");
    if (!table || !window.EventSource) return;
    const body = table.querySelector("tbody");
    const status = document.getElementById("queue-live");
    const prefix = table.dataset.stream.split("/follow-ups/")[0];
    const duration = (seconds) => {
      // As the server's `duration` filter (supportes.console.web.duration).
      const s = Math.abs(Math.trunc(seconds));
      const days = Math.floor(s / 86400);
      const hours = Math.floor((s % 86400) / 3600);
      if (days) return days + " d " + hours + " h";
      if (hours) return hours + " h " + Math.floor((s % 3600) / 60) + " min";
      return Math.floor(s / 60) + " min";
    };
    const overdue = (seconds) => (seconds > 0 ? duration(seconds) : "due in " + duration(seconds));
    const cell = (row, value) => {
      const td = document.createElement("td");
      if (value !== undefined) {
        td.textContent = value === null || value === "" ? "—" : String(value);
      }
      row.appendChild(td);
      return td;
    };
    const render = (items) => {
      const rows = items.map((item) => {
        const row = document.createElement("tr");
        row.dataset.key = item.key;
        cell(row, item.due_at.slice(0, 16).replace("T", " ")).className = "when";
        const late = cell(row);
        const span = document.createElement("span");
        if (item.overdue_seconds > 0) span.className = "overdue";
        span.textContent = overdue(item.overdue_seconds);
        late.appendChild(span);
        cell(row, item.kind.replaceAll("_", " "));
        const ref = cell(row);
        ref.className = "ref";
        if (item.case_id) {
          const link = document.createElement("a");
          link.href = prefix + "/cases/" + encodeURIComponent(item.case_id);
          link.textContent = item.reference || item.case_id;
          ref.appendChild(link);
        } else {
          ref.textContent = item.reference || "—";
        }
        cell(row, item.owner_id);
        cell(row, item.priority);
        cell(row).textContent = item.detail || "";
        return row;
      });
      body.replaceChildren(...rows);
      text("queue-count", items.length);
    };
    const stream = new EventSource(table.dataset.stream);
    stream.addEventListener("queue", (event) => {
      render(JSON.parse(event.data).items);
      status.textContent = "live: updated " + new Date().toISOString().slice(11, 19) + " UTC";
      table.dataset.updates = String(Number(table.dataset.updates || 0) + 1);
    });
    stream.addEventListener("open", () => {
      status.textContent = "live: connected";
      table.dataset.live = "true";
    });
    stream.addEventListener("error", () => {
      status.textContent = "live: reconnecting…";
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    drawCharts();
    timeTravel();
    verifyButton();
    liveQueue();
  });
})();
