// engram-bench report: hover read-outs and legend toggles for the inline
// SVG charts, and a self-check that every chart drew something (the browser
// test reads data-charts-* on <html>).
(function () {
  "use strict";
  var tip = document.getElementById("tip");

  function fmtMs(v) {
    if (v === null || v === undefined) return "–";
    var ns = v * 1e6;
    if (ns < 1000) return Math.round(ns) + "ns";
    if (ns < 1e6) return sig3(ns / 1e3) + "µs";
    if (ns < 1e9) return sig3(ns / 1e6) + "ms";
    return sig3(ns / 1e9) + "s";
  }
  function sig3(v) { return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2); }
  function fmtY(v, unit) {
    if (v === null || v === undefined) return "–";
    if (unit === "ms") return fmtMs(v);
    if (unit === "B") return (v / 1048576).toFixed(1) + " MiB";
    return (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3)) + (unit ? " " + unit : "");
  }
  function fmtX(x, d) {
    if (d.XKind === 2) return (100 * (1 - Math.pow(10, -x))).toPrecision(Math.max(3, Math.ceil(x) + 1)) + "%";
    return x.toFixed(x < 10 ? 2 : 1) + " s";
  }
  function nearest(xs, x) {
    var lo = 0, hi = xs.length - 1;
    if (hi < 0) return -1;
    while (hi - lo > 1) {
      var mid = (lo + hi) >> 1;
      if (xs[mid] < x) lo = mid; else hi = mid;
    }
    return Math.abs(xs[lo] - x) <= Math.abs(xs[hi] - x) ? lo : hi;
  }

  var charts = document.querySelectorAll("svg.chart");
  var ok = 0, blank = [];
  charts.forEach(function (svg) {
    var node = svg.querySelector("script.chart-data");
    var d = JSON.parse(node.textContent);
    var cursor = svg.querySelector(".cursor");
    var off = {};

    // Did it draw? A line with length, or a dot.
    var drawn = 0;
    svg.querySelectorAll("path.line").forEach(function (p) { if (p.getTotalLength() > 0) drawn++; });
    drawn += svg.querySelectorAll("circle.dot").length;
    var fig = svg.closest("figure");
    if (drawn > 0) { ok++; if (fig) fig.setAttribute("data-rendered", "ok"); }
    else { blank.push(svg.id); if (fig) fig.setAttribute("data-rendered", "blank"); }

    svg.addEventListener("mousemove", function (ev) {
      var pt = svg.createSVGPoint();
      pt.x = ev.clientX; pt.y = ev.clientY;
      var p = pt.matrixTransform(svg.getScreenCTM().inverse());
      if (p.x < d.PL || p.x > d.PL + d.PW || p.y < d.PT || p.y > d.PT + d.PH) { hide(); return; }
      var x = d.X0 + (p.x - d.PL) / d.PW * (d.X1 - d.X0);
      var rows = [], snapX = null;
      d.Series.forEach(function (s) {
        if (off[s.n]) return;
        var i = nearest(s.x, x);
        if (i < 0) return;
        if (snapX === null) snapX = s.x[i];
        rows.push('<i style="background:' + s.c + '"></i>' + escapeHTML(s.n) + ": <b>" + fmtY(s.y[i], d.YUnit) + "</b>");
      });
      if (!rows.length) { hide(); return; }
      var cx = d.PL + (snapX - d.X0) / (d.X1 - d.X0) * d.PW;
      cursor.setAttribute("x1", cx); cursor.setAttribute("x2", cx); cursor.setAttribute("visibility", "visible");
      tip.innerHTML = "<div>" + fmtX(snapX, d) + "</div>" + rows.join("<br>");
      tip.hidden = false;
      var left = ev.clientX + 14, top = ev.clientY + 12;
      if (left + tip.offsetWidth > window.innerWidth - 8) left = ev.clientX - tip.offsetWidth - 14;
      if (top + tip.offsetHeight > window.innerHeight - 8) top = ev.clientY - tip.offsetHeight - 12;
      tip.style.left = left + "px"; tip.style.top = top + "px";
    });
    svg.addEventListener("mouseleave", hide);
    function hide() { tip.hidden = true; cursor.setAttribute("visibility", "hidden"); }

    var fig2 = svg.parentNode;
    fig2.querySelectorAll('.key[data-chart="' + svg.id + '"]').forEach(function (k) {
      k.addEventListener("click", function () {
        var name = k.getAttribute("data-series");
        off[name] = !off[name];
        k.classList.toggle("off", off[name]);
        svg.querySelectorAll('[data-series]').forEach(function (el) {
          if (el.getAttribute("data-series") === name) el.classList.toggle("off", off[name]);
        });
      });
    });
  });
  function escapeHTML(s) { return String(s).replace(/[&<>"]/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]; }); }

  var root = document.documentElement;
  // With #selftest in the URL the page exercises its own hover read-out and
  // legend toggles and reports on <html data-selftest> (the browser test).
  if (location.hash === "#selftest") {
    var problems = [];
    charts.forEach(function (svg) {
      var r = svg.getBoundingClientRect();
      svg.dispatchEvent(new MouseEvent("mousemove", { clientX: r.left + r.width * 0.6, clientY: r.top + r.height * 0.5, bubbles: true }));
      if (tip.hidden || tip.textContent.length < 3) problems.push(svg.id + ": no read-out");
      svg.dispatchEvent(new MouseEvent("mouseleave"));
      var key = svg.parentNode.querySelector('.key[data-chart="' + svg.id + '"]');
      if (key) {
        key.click();
        var hidden = svg.querySelector(".line.off");
        key.click();
        if (!hidden || svg.querySelector(".line.off")) problems.push(svg.id + ": legend toggle");
      }
    });
    root.setAttribute("data-selftest", problems.length ? "fail: " + problems.join("; ") : "ok");
  }
  root.setAttribute("data-charts-ok", String(ok));
  root.setAttribute("data-charts-blank", blank.join(" "));
  root.setAttribute("data-ready", "1");
})();
