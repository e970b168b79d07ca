// The stress report's charts: inline SVG strings written in C++, so the HTML needs no library,
// font or network. Every chart is an <svg class='chart' data-kind=...>; the marks that carry data
// have class 'd', which the report's self-check (and its headless-browser test) counts.
//
//   std::string svg = forecast_fan_svg({&eager_record, &compiled_record});
//   std::string svg = diff_svg(compiled_eager_diff(records, "Toto"));
#pragma once
#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tools/stress/metrics.h"

namespace fcast::stress {

inline std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

struct Scale {
  double lo = 0, hi = 1, a = 0, b = 1;  // data [lo, hi] -> pixels [a, b]
  double operator()(double v) const { return hi > lo ? a + (v - lo) / (hi - lo) * (b - a) : (a + b) / 2; }
};

inline std::string svg_num(double v) { return fixed(v, 1); }

// A short number for an axis or a bar label: fixed for ordinary magnitudes, else scientific.
inline std::string short_num(double v) {
  const double a = std::fabs(v);
  char buf[48];
  if (v == 0) return "0";
  if (a >= 1e6 || a < 1e-3) std::snprintf(buf, sizeof buf, "%.2e", v);
  else if (a >= 100) std::snprintf(buf, sizeof buf, "%.1f", v);
  else if (a >= 1) std::snprintf(buf, sizeof buf, "%.3f", v);
  else std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

// "2021-03-01" for daily bars; "03-01 14:00" for intraday ones (the year is in the caption).
inline std::string axis_date(const std::string& t) {
  if (t.size() >= 16 && (t[10] == ' ' || t[10] == 'T')) return t.substr(5, 5) + " " + t.substr(11, 5);
  return t.substr(0, 10);
}

inline const char* kEagerColor = "#1864ab";
inline const char* kCompiledColor = "#e8590c";

inline std::string svg_open(const char* kind, double w, double h, const std::string& attrs = "") {
  std::ostringstream o;
  o << "<svg xmlns='http://www.w3.org/2000/svg' class='chart' data-kind='" << kind << "' " << attrs << " width='" << w
    << "' height='" << h << "' viewBox='0 0 " << w << " " << h << "' role='img'>";
  return o.str();
}

// Forecast fans of one iteration of one model: the context tail and the held-out closes as one
// line over a date axis, and for every window one fan from its origin (the last context bar):
// the mean path and the q10-q90 band. Windows are never joined into one line. Eager is drawn
// first, wide and solid with round markers; compiled on top, thin and dashed with square markers
// and an unfilled band, so both stay visible where they agree.
inline std::string forecast_fan_svg(const std::vector<const IterationRecord*>& modes) {
  if (modes.empty() || modes[0]->windows.empty()) return "<p>No forecasts recorded.</p>";
  const double W = 470, H = 250, left = 62, right = 12, top = 10, bottom = 58;
  const IterationRecord& base = *modes[0];
  const WindowResult& w0 = base.windows.front();
  // Bar positions: the tail, then each window's held-out bars (walk-forward windows are consecutive).
  std::vector<double> truth = w0.context_tail;
  std::vector<std::string> times = w0.context_times;
  times.resize(truth.size());
  std::vector<size_t> origin_x;  // position of each window's last context bar
  for (const WindowResult& w : base.windows) {
    origin_x.push_back(truth.empty() ? 0 : truth.size() - 1);
    for (size_t k = 0; k < w.actual.size(); ++k) {
      truth.push_back(w.actual[k]);
      times.push_back(k < w.times.size() ? w.times[k] : "");
    }
  }
  double lo = INFINITY, hi = -INFINITY;
  auto grow = [&](double v) {
    if (std::isfinite(v)) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  };
  for (double v : truth) grow(v);
  for (const IterationRecord* r : modes)
    for (const WindowResult& w : r->windows)
      for (size_t k = 0; k < w.mean.size(); ++k) {
        grow(w.mean[k]);
        if (k < w.q10.size()) grow(w.q10[k]);
        if (k < w.q90.size()) grow(w.q90[k]);
      }
  if (!std::isfinite(lo)) return "<p>No finite values to plot.</p>";
  const double pad = (hi - lo) * 0.06 + 1e-9 * std::max(1.0, std::fabs(hi));
  const size_t n = std::max<size_t>(truth.size(), 2);
  Scale x{0, static_cast<double>(n - 1), left, W - right};
  Scale y{lo - pad, hi + pad, H - bottom, top};
  std::ostringstream o;
  o << svg_open("forecast", W, H,
                "data-model='" + html_escape(base.model_name) + "' data-iteration='" + std::to_string(base.iteration) +
                    "' data-symbol='" + html_escape(base.symbol) + "'");
  o << "<rect x='" << left << "' y='" << top << "' width='" << W - left - right << "' height='" << H - top - bottom
    << "' fill='none' stroke='#ccc'/>";
  for (int t = 0; t <= 4; ++t) {
    const double v = lo - pad + (hi - lo + 2 * pad) * t / 4.0;
    o << "<text x='" << left - 4 << "' y='" << svg_num(y(v) + 4) << "' font-size='10' text-anchor='end'>"
      << short_num(v) << "</text>";
  }
  // Date axis: five labelled bars.
  for (int t = 0; t <= 4; ++t) {
    const size_t i = static_cast<size_t>(std::lround(static_cast<double>(truth.size() - 1) * t / 4.0));
    if (i >= times.size() || times[i].empty()) continue;
    const char* anchor = t == 0 ? "start" : t == 4 ? "end" : "middle";
    o << "<line x1='" << svg_num(x(i)) << "' y1='" << H - bottom << "' x2='" << svg_num(x(i)) << "' y2='"
      << H - bottom + 4 << "' stroke='#444'/><text x='" << svg_num(x(i)) << "' y='" << H - bottom + 15
      << "' font-size='10' text-anchor='" << anchor << "'>" << html_escape(axis_date(times[i])) << "</text>";
  }
  if (!origin_x.empty()) {
    const double ox = x(static_cast<double>(origin_x.front()));
    o << "<line x1='" << svg_num(ox) << "' y1='" << top << "' x2='" << svg_num(ox) << "' y2='" << H - bottom
      << "' stroke='#888' stroke-dasharray='2,3'/><text x='" << svg_num(ox + 3) << "' y='" << top + 10
      << "' font-size='10' fill='#555'>held out &#8594;</text>";
  }
  // The truth line first, so the fans lie on top of it.
  o << "<polyline class='d' fill='none' stroke='#222' stroke-width='1.3' points='";
  for (size_t i = 0; i < truth.size(); ++i)
    if (std::isfinite(truth[i])) o << svg_num(x(i)) << "," << svg_num(y(truth[i])) << " ";
  o << "'><title>actual close</title></polyline>";
  for (size_t m = 0; m < modes.size(); ++m) {
    const bool compiled = modes[m]->compiled;
    const char* color = compiled ? kCompiledColor : kEagerColor;
    for (size_t wi = 0; wi < modes[m]->windows.size() && wi < origin_x.size(); ++wi) {
      const WindowResult& w = modes[m]->windows[wi];
      std::vector<std::pair<double, double>> mean, q10, q90;
      if (std::isfinite(w.last_close)) {
        const double ox = static_cast<double>(origin_x[wi]);
        mean.push_back({ox, w.last_close});
        q10.push_back({ox, w.last_close});
        q90.push_back({ox, w.last_close});
      }
      for (size_t k = 0; k < w.mean.size(); ++k) {
        const double px = static_cast<double>(origin_x[wi] + 1 + k);
        mean.push_back({px, w.mean[k]});
        if (k < w.q10.size() && k < w.q90.size()) {
          q10.push_back({px, w.q10[k]});
          q90.push_back({px, w.q90[k]});
        }
      }
      o << "<polygon class='d' points='";
      for (const auto& [px, py] : q90) o << svg_num(x(px)) << "," << svg_num(y(py)) << " ";
      for (auto it = q10.rbegin(); it != q10.rend(); ++it) o << svg_num(x(it->first)) << "," << svg_num(y(it->second)) << " ";
      if (compiled) o << "' fill='none' stroke='" << color << "' stroke-width='1' stroke-dasharray='3,2'/>";
      else o << "' fill='" << color << "' fill-opacity='0.16' stroke='none'/>";
      o << "<polyline class='d' fill='none' stroke='" << color << "' "
        << (compiled ? "stroke-width='1.4' stroke-dasharray='5,3'" : "stroke-width='3' stroke-opacity='0.8'")
        << " points='";
      for (const auto& [px, py] : mean) o << svg_num(x(px)) << "," << svg_num(y(py)) << " ";
      o << "'><title>" << html_escape(modes[m]->compile_mode) << " window " << wi + 1 << " (origin "
        << html_escape(w.origin) << ")</title></polyline>";
      for (size_t k = std::isfinite(w.last_close) ? 1 : 0; k < mean.size(); ++k) {
        const double px = x(mean[k].first), py = y(mean[k].second);
        if (compiled)
          o << "<rect class='d' x='" << svg_num(px - 2.5) << "' y='" << svg_num(py - 2.5)
            << "' width='5' height='5' fill='#fff' stroke='" << color << "' stroke-width='1.3'/>";
        else
          o << "<circle class='d' cx='" << svg_num(px) << "' cy='" << svg_num(py) << "' r='3.5' fill='" << color
            << "'/>";
      }
    }
  }
  // Legend (below the date axis).
  const double ly = H - 14;
  double lx = left;
  o << "<line x1='" << lx << "' y1='" << ly - 4 << "' x2='" << lx + 16 << "' y2='" << ly - 4
    << "' stroke='#222' stroke-width='1.3'/><text x='" << lx + 20 << "' y='" << ly << "' font-size='10'>actual</text>";
  lx += 62;
  for (const IterationRecord* r : modes) {
    const char* color = r->compiled ? kCompiledColor : kEagerColor;
    if (r->compiled)
      o << "<line x1='" << lx << "' y1='" << ly - 4 << "' x2='" << lx + 18 << "' y2='" << ly - 4 << "' stroke='"
        << color << "' stroke-width='1.4' stroke-dasharray='5,3'/><rect x='" << lx + 6.5 << "' y='" << ly - 6.5
        << "' width='5' height='5' fill='#fff' stroke='" << color << "'/>";
    else
      o << "<rect x='" << lx << "' y='" << ly - 9 << "' width='18' height='10' fill='" << color
        << "' fill-opacity='0.16'/><line x1='" << lx << "' y1='" << ly - 4 << "' x2='" << lx + 18 << "' y2='"
        << ly - 4 << "' stroke='" << color << "' stroke-width='3'/><circle cx='" << lx + 9 << "' cy='" << ly - 4
        << "' r='3' fill='" << color << "'/>";
    const std::string label = r->compiled ? "compiled (" + r->compile_mode + ")" : r->compile_mode;
    o << "<text x='" << lx + 22 << "' y='" << ly << "' font-size='10'>" << html_escape(label) << "</text>";
    lx += 34 + 6 * static_cast<double>(label.size());
  }
  o << "<text x='" << W - right << "' y='" << ly << "' font-size='10' text-anchor='end' fill='#555'>line: mean; "
       "band: q10-q90</text>";
  o << "</svg>";
  return o.str();
}

// Compiled minus eager, forecast by forecast: the signed relative difference of every mean
// forecast step (scale-free, as each iteration is another symbol), iterations separated.
inline std::string diff_svg(const CompiledEagerDiff& d) {
  if (d.points.empty()) return "<p>No forecast ran in both modes.</p>";
  const double W = 640, H = 200, left = 70, right = 12, top = 12, bottom = 34;
  double m = 0;
  std::vector<double> rel;
  for (const DiffPoint& p : d.points) {
    const double r = p.eager != 0 ? (p.compiled - p.eager) / std::fabs(p.eager) : 0.0;
    rel.push_back(std::isfinite(r) ? r : 0.0);
    m = std::max(m, std::fabs(rel.back()));
  }
  const bool identical = m == 0;
  if (identical) m = 1e-9;  // identical forecasts: a flat line on zero
  m *= 1.15;
  Scale x{-0.5, static_cast<double>(d.points.size()) - 0.5, left, W - right};
  Scale y{-m, m, H - bottom, top};
  std::ostringstream o;
  o << svg_open("diff", W, H, "data-model='" + html_escape(d.model_name) + "'");
  o << "<rect x='" << left << "' y='" << top << "' width='" << W - left - right << "' height='" << H - top - bottom
    << "' fill='none' stroke='#ccc'/>";
  for (double v : {-m / 1.15, 0.0, m / 1.15})
    o << "<text x='" << left - 4 << "' y='" << svg_num(y(v) + 4) << "' font-size='10' text-anchor='end'>"
      << (v == 0 ? std::string("0") : short_num(v)) << "</text>";
  o << "<line x1='" << left << "' y1='" << svg_num(y(0)) << "' x2='" << W - right << "' y2='" << svg_num(y(0))
    << "' stroke='#888'/>";
  int last_iter = -1;
  for (size_t i = 0; i < d.points.size(); ++i) {
    const DiffPoint& p = d.points[i];
    if (p.iteration != last_iter) {
      last_iter = p.iteration;
      const double sx = x(static_cast<double>(i) - 0.5);
      o << "<line x1='" << svg_num(sx) << "' y1='" << top << "' x2='" << svg_num(sx) << "' y2='" << H - bottom
        << "' stroke='#ddd'/><text x='" << svg_num(sx + 3) << "' y='" << H - bottom + 14 << "' font-size='10'>it "
        << p.iteration << " " << html_escape(p.symbol) << "</text>";
    }
    o << "<circle class='d' cx='" << svg_num(x(static_cast<double>(i))) << "' cy='" << svg_num(y(rel[i]))
      << "' r='2.5' fill='" << kCompiledColor << "'><title>iteration " << p.iteration << " window " << p.window + 1
      << " step " << p.step + 1 << ": eager " << short_num(p.eager) << ", compiled " << short_num(p.compiled)
      << "</title></circle>";
  }
  if (identical)
    o << "<text x='" << (left + W - right) / 2 << "' y='" << svg_num(y(0) - 8)
      << "' font-size='11' text-anchor='middle' fill='#2b8a3e'>compiled and eager forecasts are identical</text>";
  o << "<text x='" << (left + W - right) / 2 << "' y='" << H - 4
    << "' font-size='10' text-anchor='middle'>(compiled &#8722; eager) / |eager|, every forecast step</text>";
  o << "</svg>";
  return o.str();
}

// Horizontal bar pairs (eager, compiled) per row; each row is scaled to its own largest value,
// since load, first call and steady-state latency differ by orders of magnitude.
struct BarRow {
  std::string label;
  double eager = 0, compiled = 0;
  std::string unit;
};
inline std::string bars_svg(const char* kind, const std::string& model, const std::vector<BarRow>& rows,
                            const std::string& eager_label, const std::string& compiled_label) {
  const double W = 640, rowh = 36, left = 150, right = 120, top = 8;
  const double H = top + rowh * static_cast<double>(rows.size()) + 24;
  std::ostringstream o;
  o << svg_open(kind, W, H, "data-model='" + html_escape(model) + "'");
  for (size_t i = 0; i < rows.size(); ++i) {
    const BarRow& r = rows[i];
    const double y0 = top + rowh * static_cast<double>(i);
    const double mx = std::max({r.eager, r.compiled, 1e-12});
    o << "<text x='" << left - 6 << "' y='" << y0 + 19 << "' font-size='11' text-anchor='end'>" << html_escape(r.label)
      << "</text>";
    const double vals[2] = {r.eager, r.compiled};
    const char* colors[2] = {kEagerColor, kCompiledColor};
    for (int k = 0; k < 2; ++k) {
      const double v = std::isfinite(vals[k]) ? std::max(0.0, vals[k]) : 0.0;
      const double w = std::max(1.0, (W - left - right) * v / mx);
      const double by = y0 + 4 + 14 * k;
      o << "<rect class='d' x='" << left << "' y='" << by << "' width='" << svg_num(w) << "' height='12' fill='"
        << colors[k] << "'/><text x='" << svg_num(left + w + 4) << "' y='" << by + 10 << "' font-size='10'>"
        << short_num(vals[k]) << " " << html_escape(r.unit) << "</text>";
    }
  }
  const double ly = H - 8;
  o << "<rect x='" << left << "' y='" << ly - 9 << "' width='12' height='10' fill='" << kEagerColor << "'/><text x='"
    << left + 16 << "' y='" << ly << "' font-size='10'>" << html_escape(eager_label) << "</text><rect x='" << left + 150
    << "' y='" << ly - 9 << "' width='12' height='10' fill='" << kCompiledColor << "'/><text x='" << left + 166
    << "' y='" << ly << "' font-size='10'>" << html_escape(compiled_label) << "</text>";
  o << "</svg>";
  return o.str();
}

// Relative MAE (model / last value) per symbol, eager and compiled, with the line at 1.
inline std::string relative_mae_svg(const std::string& model, const std::vector<const SymbolScore*>& eager,
                                    const std::vector<const SymbolScore*>& compiled) {
  std::vector<std::string> symbols;
  for (const auto* s : eager) symbols.push_back(s->symbol);
  for (const auto* s : compiled)
    if (std::find(symbols.begin(), symbols.end(), s->symbol) == symbols.end()) symbols.push_back(s->symbol);
  if (symbols.empty()) return "<p>No scores yet.</p>";
  auto value = [](const std::vector<const SymbolScore*>& v, const std::string& sym) {
    for (const auto* s : v)
      if (s->symbol == sym) return s->accuracy.relative_mae;
    return static_cast<double>(NAN);
  };
  double mx = 1.0;
  for (const auto& sym : symbols)
    for (double v : {value(eager, sym), value(compiled, sym)})
      if (std::isfinite(v)) mx = std::max(mx, v);
  mx *= 1.1;
  const double W = 640, rowh = 34, left = 150, right = 70, top = 8;
  const double H = top + rowh * static_cast<double>(symbols.size()) + 40;
  Scale x{0, mx, left, W - right};
  std::ostringstream o;
  o << svg_open("relative-mae", W, H, "data-model='" + html_escape(model) + "'");
  for (size_t i = 0; i < symbols.size(); ++i) {
    const double y0 = top + rowh * static_cast<double>(i);
    o << "<text x='" << left - 6 << "' y='" << y0 + 18 << "' font-size='11' text-anchor='end'>"
      << html_escape(symbols[i]) << "</text>";
    const double vals[2] = {value(eager, symbols[i]), value(compiled, symbols[i])};
    const char* colors[2] = {kEagerColor, kCompiledColor};
    for (int k = 0; k < 2; ++k) {
      if (!std::isfinite(vals[k])) continue;
      const double by = y0 + 4 + 13 * k;
      o << "<rect class='d' x='" << left << "' y='" << by << "' width='" << svg_num(std::max(1.0, x(vals[k]) - left))
        << "' height='11' fill='" << colors[k] << "'/><text x='" << svg_num(x(vals[k]) + 4) << "' y='" << by + 9
        << "' font-size='10'>" << fixed(vals[k], 3) << "</text>";
    }
  }
  const double axis_y = top + rowh * static_cast<double>(symbols.size());
  o << "<line x1='" << svg_num(x(1)) << "' y1='" << top << "' x2='" << svg_num(x(1)) << "' y2='" << axis_y
    << "' stroke='#222' stroke-dasharray='4,3'/><text x='" << svg_num(x(1)) << "' y='" << axis_y + 12
    << "' font-size='10' text-anchor='middle'>1 = last value</text>";
  o << "<text x='" << (left + W - right) / 2 << "' y='" << H - 6
    << "' font-size='10' text-anchor='middle'>MAE / last-value MAE on the same held-out bars (below 1 beats the last "
       "value); blue eager, orange compiled</text>";
  o << "</svg>";
  return o.str();
}

// Latency distribution: one row per mode, every steady-state call a dot, p50 and p99 marked.
inline std::string latency_svg(const std::string& model,
                               const std::vector<std::pair<std::string, std::vector<double>>>& rows) {
  const double W = 640, rowh = 46, left = 170, right = 20, top = 20;
  const double H = top + rowh * static_cast<double>(rows.size()) + 40;
  double lo = INFINITY, hi = 0;
  for (const auto& r : rows)
    for (double v : r.second) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  if (!std::isfinite(lo)) return "<p>No steady-state latencies recorded.</p>";
  lo = std::max(0.0, lo * 0.9);
  hi = hi * 1.05 + 1e-9;
  Scale x{lo, hi, left, W - right};
  std::ostringstream o;
  o << svg_open("latency", W, H, "data-model='" + html_escape(model) + "'");
  const double axis_y = top + rowh * static_cast<double>(rows.size());
  o << "<line x1='" << left << "' y1='" << axis_y << "' x2='" << W - right << "' y2='" << axis_y << "' stroke='#444'/>";
  for (int t = 0; t <= 4; ++t) {
    const double v = lo + (hi - lo) * t / 4.0;
    o << "<text x='" << svg_num(x(v)) << "' y='" << axis_y + 16 << "' font-size='11' text-anchor='middle'>"
      << fixed(v, 2) << "</text>";
  }
  o << "<text x='" << (left + W - right) / 2 << "' y='" << axis_y + 32
    << "' font-size='11' text-anchor='middle'>steady-state forecast latency (ms)</text>";
  for (size_t i = 0; i < rows.size(); ++i) {
    const double cy = top + rowh * (static_cast<double>(i) + 0.5);
    const bool compiled = rows[i].first.find("compiled") != std::string::npos;
    const char* color = compiled ? kCompiledColor : kEagerColor;
    o << "<text x='" << left - 8 << "' y='" << cy + 4 << "' font-size='12' text-anchor='end'>"
      << html_escape(rows[i].first) << "</text>";
    const auto& v = rows[i].second;
    for (size_t k = 0; k < v.size(); ++k) {
      const double jitter = (static_cast<double>(k % 7) - 3.0) * 3.0;
      o << "<circle class='d' cx='" << svg_num(x(v[k])) << "' cy='" << svg_num(cy + jitter) << "' r='3' fill='"
        << color << "' fill-opacity='0.6'/>";
    }
    if (!v.empty()) {
      const double p50 = percentile(v, 50), p99 = percentile(v, 99);
      o << "<line x1='" << svg_num(x(p50)) << "' y1='" << cy - 16 << "' x2='" << svg_num(x(p50)) << "' y2='" << cy + 16
        << "' stroke='#000' stroke-width='2'><title>p50 " << fixed(p50, 3) << " ms</title></line>";
      o << "<line x1='" << svg_num(x(p99)) << "' y1='" << cy - 16 << "' x2='" << svg_num(x(p99)) << "' y2='" << cy + 16
        << "' stroke='#000' stroke-dasharray='3,2'><title>p99 " << fixed(p99, 3) << " ms</title></line>";
    }
  }
  o << "</svg>";
  return o.str();
}

}  // namespace fcast::stress
