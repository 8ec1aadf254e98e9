// Crucible dashboard: the Experiment page's plots and live status, and the
// step metrics' curves of the trial and Experiment pages. Pages work
// without it; it only adds what needs a script. The plots read every trial
// from trials.json; the table is the server's page of it. The curves read
// the JSON the server embedded in the page (#step-data, #curves-data).
//
// After drawing, #parallel carries data-lines (the lines drawn, one per
// succeeded trial with a numeric objective) and data-visible (the table
// rows left visible by the brushes); #curves carries data-lines (one per
// trial) and #step-chart data-series (one per metric). window.crucible
// exposes the chart and brush/clearBrush for browser tests.
(function () {
  'use strict';

  var TERMINAL = { Succeeded: true, Failed: true };
  // The colours of the objective, best to worst.
  var GOOD_TO_BAD = ['#1a9850', '#91cf60', '#fee08b', '#fc8d59', '#d73027'];

  function $(id) { return document.getElementById(id); }

  function rows() {
    return document.querySelectorAll('#leaderboard tbody tr[data-trial]');
  }

  function setVisible(names) {
    var n = 0;
    rows().forEach(function (tr) {
      var show = names === null || names.has(tr.getAttribute('data-trial'));
      tr.hidden = !show;
      if (show) { n++; }
    });
    var p = $('parallel');
    if (p) { p.setAttribute('data-visible', String(n)); }
    return n;
  }

  // plotted turns trials.json into the points the plots draw: succeeded
  // trials with a numeric objective.
  function plotted(doc) {
    var f = {};
    doc.fields.forEach(function (name, i) { f[name] = i; });
    var out = [];
    doc.trials.forEach(function (t) {
      if (t[f.phase] === 'Succeeded' && typeof t[f.objective] === 'number') { out.push(t); }
    });
    return { fields: f, trials: out };
  }

  function axisType(p) {
    if (p.kind === 'values') { return 'category'; }
    return p.scale === 'Log' ? 'log' : 'value';
  }

  function objectiveRange(points, objIdx) {
    var lo = Infinity, hi = -Infinity;
    points.forEach(function (t) { lo = Math.min(lo, t[objIdx]); hi = Math.max(hi, t[objIdx]); });
    if (lo === hi) { lo -= 1; hi += 1; }
    return [lo, hi];
  }

  function colours(doc) {
    var c = GOOD_TO_BAD.slice();
    // visualMap maps min to the first colour: good when minimizing.
    return doc.objective.goal === 'Maximize' ? c.reverse() : c;
  }

  var state = { chart: null, doc: null, names: [], scatters: [] };

  function drawParallel(el, doc) {
    var pts = plotted(doc);
    var f = pts.fields;
    var params = doc.parameters;
    var axes = params.map(function (p, i) {
      var a = { dim: i, id: 'axis-' + p.name, name: p.name, type: axisType(p) };
      if (a.type === 'category') { a.data = p.values; }
      return a;
    });
    var objDim = params.length;
    axes.push({ dim: objDim, id: 'axis-objective', name: doc.objective.metric + (doc.objective.goal === 'Minimize' ? ' ↓' : ' ↑'), type: 'value', scale: true });
    state.names = pts.trials.map(function (t) { return t[f.name]; });
    var data = pts.trials.map(function (t) {
      var row = params.map(function (p) { return t[f[p.name]]; });
      row.push(t[f.objective]);
      return row;
    });
    var range = objectiveRange(pts.trials, f.objective);
    var chart = state.chart || echarts.init(el, null, { renderer: 'canvas' });
    state.chart = chart;
    chart.setOption({
      animation: false,
      parallel: { left: 60, right: 110, top: 40, bottom: 30, parallelAxisDefault: { nameLocation: 'end', nameGap: 16, scale: true } },
      parallelAxis: axes,
      visualMap: {
        type: 'continuous', dimension: objDim, min: range[0], max: range[1], right: 0, top: 'middle',
        calculable: false, inRange: { color: colours(doc) }, text: ['', doc.objective.metric]
      },
      series: [{
        type: 'parallel', name: 'trials', data: data, smooth: false,
        lineStyle: { width: 1, opacity: 0.6 }, inactiveOpacity: 0.03, activeOpacity: 1,
        progressive: 2000, progressiveThreshold: 5000
      }]
    }, { notMerge: true });
    el.setAttribute('data-lines', String(data.length));
    chart.off('axisareaselected');
    chart.on('axisareaselected', function () {
      var series = chart.getModel().getSeries()[0];
      if (series.getRawIndicesByActiveState('inactive').length === 0) {
        setVisible(null);
        return;
      }
      var keep = new Set();
      series.getRawIndicesByActiveState('active').forEach(function (i) { keep.add(state.names[i]); });
      setVisible(keep);
    });
  }

  function drawScatters(doc, trialBase) {
    var pts = plotted(doc);
    var f = pts.fields;
    var byName = {};
    doc.parameters.forEach(function (p) { byName[p.name] = p; });
    document.querySelectorAll('#scatters .scatter[data-param]').forEach(function (el, i) {
      var p = byName[el.getAttribute('data-param')];
      if (!p) { return; }
      var data = pts.trials.map(function (t) { return [t[f[p.name]], t[f.objective], t[f.name]]; });
      var x = { type: axisType(p), name: p.name, nameLocation: 'middle', nameGap: 26, scale: true };
      if (x.type === 'category') { x.data = p.values; }
      var chart = state.scatters[i] || echarts.init(el, null, { renderer: 'canvas' });
      state.scatters[i] = chart;
      chart.setOption({
        animation: false,
        grid: { left: 60, right: 20, top: 20, bottom: 45 },
        xAxis: x,
        yAxis: { type: 'value', name: doc.objective.metric, scale: true },
        tooltip: {
          trigger: 'item',
          formatter: function (it) {
            // Text only: a trial name is the user's, never markup.
            var d = it.data;
            return echarts.format.encodeHTML(d[2] + ': ' + p.name + '=' + d[0] + ', ' + doc.objective.metric + '=' + d[1]);
          }
        },
        series: [{ type: 'scatter', data: data, symbolSize: data.length > 2000 ? 3 : 6, large: data.length > 2000, itemStyle: { opacity: 0.7 } }]
      }, { notMerge: true });
      el.setAttribute('data-points', String(data.length));
      chart.off('click');
      chart.on('click', function (it) {
        if (it.data && it.data[2]) { window.location.href = trialBase + encodeURIComponent(it.data[2]); }
      });
    });
  }

  function loadPlots() {
    var el = $('parallel');
    if (!el || !el.getAttribute('data-src')) { return; }
    if (typeof echarts === 'undefined') {
      // The server says so on the page (#charts-missing).
      return;
    }
    fetch(el.getAttribute('data-src'), { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (r) {
        if (!r.ok) { return r.json().then(function (e) { throw new Error(e.message + (e.permission ? ' Missing permission: ' + e.permission : '')); }); }
        return r.json();
      })
      .then(function (doc) {
        state.doc = doc;
        drawParallel(el, doc);
        drawScatters(doc, el.getAttribute('data-trial-base') || '');
        setVisible(null);
      })
      .catch(function (err) {
        el.setAttribute('data-lines', '0');
        el.textContent = 'The plots could not be drawn: ' + err.message;
      });
  }

  // The axis value of v on parameter p's axis: a category axis brushes by
  // position.
  function axisValue(p, v) {
    return p && p.kind === 'values' ? p.values.indexOf(String(v)) : Number(v);
  }

  window.crucible = {
    chart: function () { return state.chart; },
    // brush selects [lo, hi] on a parameter's axis ("objective" for the
    // objective's), as dragging along it does.
    brush: function (name, lo, hi) {
      var p = null;
      (state.doc ? state.doc.parameters : []).forEach(function (q) { if (q.name === name) { p = q; } });
      var id = name === 'objective' ? 'axis-objective' : 'axis-' + name;
      state.chart.dispatchAction({ type: 'axisAreaSelect', parallelAxisId: id, intervals: [[axisValue(p, lo), axisValue(p, hi)]] });
    },
    clearBrush: function () {
      (state.doc ? state.doc.parameters.map(function (q) { return 'axis-' + q.name; }) : []).concat(['axis-objective']).forEach(function (id) {
        state.chart.dispatchAction({ type: 'axisAreaSelect', parallelAxisId: id, intervals: [] });
      });
    }
  };

  // embedded parses the JSON the server put in the element id, or null.
  function embedded(id) {
    var el = $(id);
    if (!el) { return null; }
    try { return JSON.parse(el.textContent); } catch (e) { return null; }
  }

  // Colours of the Experiment page's curves by the trial's phase.
  var PHASE_COLOUR = { Succeeded: '#2563eb', Running: '#ea580c', Stopped: '#9ca3af', Failed: '#b91c1c' };
  var BEST_COLOUR = '#15803d';

  function stepAxis() {
    return { type: 'value', name: 'step', nameLocation: 'middle', nameGap: 26, minInterval: 1, scale: true };
  }

  // drawSteps draws the trial page's curves: one line per metric, the
  // objective's first and thicker.
  function drawSteps() {
    var el = $('step-chart');
    var doc = embedded('step-data');
    if (!el || !doc || typeof echarts === 'undefined') { return; }
    var chart = echarts.init(el, null, { renderer: 'canvas' });
    chart.setOption({
      animation: false,
      grid: { left: 60, right: 20, top: 40, bottom: 45 },
      legend: { type: 'scroll', top: 0 },
      tooltip: {
        trigger: 'axis',
        formatter: function (items) {
          // Text only: metric names are the trainer's, never markup.
          var lines = items.map(function (it) { return echarts.format.encodeHTML(it.seriesName + ' = ' + it.data[1]); });
          var step = items.length ? 'step ' + items[0].data[0] : '';
          return [echarts.format.encodeHTML(step)].concat(lines).join('<br>');
        }
      },
      xAxis: stepAxis(),
      yAxis: { type: 'value', scale: true },
      series: doc.series.map(function (s) {
        return {
          type: 'line', name: s.name, data: s.points, showSymbol: s.points.length < 2,
          z: s.objective ? 3 : 2, lineStyle: { width: s.objective ? 3 : 1.5 }, emphasis: { focus: 'series' }
        };
      })
    }, { notMerge: true });
    el.setAttribute('data-series', String(doc.series.length));
  }

  // drawCurves draws the Experiment page's curves: the objective by step,
  // one line per trial, coloured by phase, the best trial's thicker.
  function drawCurves() {
    var el = $('curves');
    var doc = embedded('curves-data');
    if (!el || !doc || typeof echarts === 'undefined') { return; }
    var base = el.getAttribute('data-trial-base') || '';
    var chart = echarts.init(el, null, { renderer: 'canvas' });
    chart.setOption({
      animation: false,
      grid: { left: 60, right: 20, top: 20, bottom: 45 },
      tooltip: {
        trigger: 'item',
        formatter: function (it) {
          // Text only: a trial name is the user's, never markup. On the
          // line between points there is no data point.
          var d = it.data;
          return echarts.format.encodeHTML(it.seriesName + (d ? ': step ' + d[0] + ', ' + doc.metric + ' = ' + d[1] : ''));
        }
      },
      xAxis: stepAxis(),
      yAxis: { type: 'value', name: doc.metric + (doc.goal === 'Maximize' ? ' ↑' : ' ↓'), scale: true },
      series: doc.series.map(function (s) {
        var colour = s.best ? BEST_COLOUR : (PHASE_COLOUR[s.phase] || '#6b7280');
        return {
          type: 'line', name: s.name, data: s.points, symbolSize: 3, triggerLineEvent: true,
          z: s.best ? 4 : (s.phase === 'Stopped' ? 1 : 2),
          itemStyle: { color: colour },
          lineStyle: { color: colour, width: s.best ? 3 : 1, opacity: s.best ? 1 : 0.7 },
          emphasis: { focus: 'series', lineStyle: { width: 3 } }
        };
      })
    }, { notMerge: true });
    el.setAttribute('data-lines', String(doc.series.length));
    chart.on('click', function (it) {
      if (it.seriesName) { window.location.href = base + encodeURIComponent(it.seriesName); }
    });
  }

  function live() {
    var summary = $('summary');
    if (!summary || typeof EventSource === 'undefined') { return; }
    var url = summary.getAttribute('data-events');
    var phase = summary.getAttribute('data-phase');
    if (!url || TERMINAL[phase]) { return; }
    var loaded = Number(summary.getAttribute('data-done'));
    var refresh = null;
    var es = new EventSource(url);
    es.onmessage = function (m) {
      var s = JSON.parse(m.data);
      if (s.deleted) {
        $('live-text').textContent = 'This Experiment was deleted.';
        $('live-notice').hidden = false;
        es.close();
        return;
      }
      var ph = $('exp-phase');
      ph.textContent = s.phase;
      ph.className = 'phase phase-' + s.phase;
      summary.setAttribute('data-phase', s.phase);
      var bar = $('progress');
      bar.max = s.trials.total || 0;
      bar.value = s.done;
      $('progress-text').textContent = s.done + '/' + (s.trials.total || 0);
      $('count-succeeded').textContent = s.trials.succeeded || 0;
      $('count-failed').textContent = s.trials.failed || 0;
      $('count-active').textContent = s.trials.active || 0;
      if ($('count-stopped')) { $('count-stopped').textContent = s.trials.stopped || 0; }
      if (s.best) {
        var best = $('best');
        best.textContent = '';
        var a = document.createElement('a');
        a.id = 'best-trial';
        a.href = s.best.path;
        a.textContent = s.best.name;
        var o = document.createElement('span');
        o.id = 'best-objective';
        o.className = 'num';
        o.textContent = s.best.objective;
        best.append(a, ' ', o);
      }
      if (s.done !== loaded) {
        $('live-text').textContent = (s.done - loaded) + ' more trials ended since this page was loaded.';
        $('live-notice').hidden = false;
        // The plots follow at most every 3 s; the table on reload.
        if (refresh === null) {
          refresh = setTimeout(function () { refresh = null; loadPlots(); }, 3000);
        }
      }
      if (TERMINAL[s.phase]) { es.close(); }
    };
  }

  var page = document.body.getAttribute('data-page');
  if (page === 'experiment') {
    loadPlots();
    drawCurves();
    live();
  } else if (page === 'trial') {
    drawSteps();
  }
}());
