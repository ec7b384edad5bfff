#!/usr/bin/env python3
"""Draws docs/benchmarks.svg from the estimates of the last benchmark run.

    cargo bench -p bearer-guard-bench --bench validate && cargo bench -p bearer-guard-bench --bench stack
    python3 scripts/bench_chart.py [target-dir] [output.svg]

Reads criterion's `<target>/criterion/<group>/<function>/new/estimates.json`
(mean point estimates) and draws the cost per validation, per algorithm, cold
and cached, beside the jsonwebtoken floor; then RS256 through an axum router,
beside the peer crates. Log scale: the values span three decades.
"""

import json
import math
import os
import sys

TARGET = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CARGO_TARGET_DIR", "target")
OUT = sys.argv[2] if len(sys.argv) > 2 else "docs/benchmarks.svg"

ALGS = ["RS256", "PS256", "ES256", "EdDSA", "HS256"]
SERIES = [
    ("floor", "jsonwebtoken::decode (floor)", "#9e9e9e"),
    ("cold", "bearer-guard, cold", "#1f77b4"),
    ("warm", "bearer-guard, cached token", "#2ca02c"),
]
STACK = [
    ("bare", "bare axum router", "#cccccc"),
    ("bearer-guard-warm", "bearer-guard, cached token", "#2ca02c"),
    ("bearer-guard-cold", "bearer-guard, cold", "#1f77b4"),
    ("jwt-authorizer", "jwt-authorizer 0.15", "#ff7f0e"),
    ("axum-jwt-auth", "axum-jwt-auth 0.7", "#d62728"),
]


def mean_us(group, function):
    path = os.path.join(TARGET, "criterion", group.replace("/", "_"), function, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["mean"]["point_estimate"] / 1000.0
    except (OSError, KeyError, ValueError):
        return None


def main():
    rows = []  # (section, label, color, value)
    for alg in ALGS:
        for fn, label, color in SERIES:
            v = mean_us(f"validate/{alg}", fn)
            if v is not None:
                rows.append((f"{alg}, validation alone", label, color, v))
    for fn, label, color in STACK:
        v = mean_us("stack/RS256", fn)
        if v is not None:
            rows.append(("RS256 through an axum router (request in, response out)", label, color, v))
    if not rows:
        sys.exit(f"no estimates under {TARGET}/criterion: run the benchmarks first")

    lo = 10 ** math.floor(math.log10(min(r[3] for r in rows)))
    hi = 10 ** math.ceil(math.log10(max(r[3] for r in rows)))
    left, bar_w, bar_h, gap = 230, 520, 16, 4
    x = lambda v: left + bar_w * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    parts = []
    y = 50
    section = None
    for sec, label, color, v in rows:
        if sec != section:
            section = sec
            y += 14
            parts.append(f'<text x="10" y="{y}" font-weight="bold">{sec}</text>')
            y += 8
        parts.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{label}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{x(v) - left:.1f}" height="{bar_h}" fill="{color}"/>')
        parts.append(f'<text x="{x(v) + 4:.1f}" y="{y + 12}">{v:.2f} µs</text>')
        y += bar_h + gap
    height = y + 40
    axis = []
    d = lo
    while d <= hi * 1.0001:
        axis.append(f'<line x1="{x(d):.1f}" y1="40" x2="{x(d):.1f}" y2="{y}" stroke="#e0e0e0"/>')
        axis.append(f'<text x="{x(d):.1f}" y="{y + 16}" text-anchor="middle">{d:g} µs</text>')
        d *= 10
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + bar_w + 110}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        '<text x="10" y="22" font-size="15" font-weight="bold">'
        "Cost per request, mean of one criterion run (log scale; lower is better)</text>",
        *axis,
        *parts,
        "</svg>",
    ]
    os.makedirs(os.path.dirname(OUT) or ".", exist_ok=True)
    with open(OUT, "w") as f:
        f.write("\n".join(svg) + "\n")
    print(f"wrote {OUT} ({len(rows)} bars)")


if __name__ == "__main__":
    main()
