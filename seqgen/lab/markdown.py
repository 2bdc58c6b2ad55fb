"""The sweep report as Markdown (report.md) and three lines for the terminal, from the summary's numbers."""

from __future__ import annotations

import math

from seqgen.lab.veg import CATEGORIES, THRESHOLD


def _pct(g: dict) -> str:
    """k/n (rate [interval])."""
    if not g["runs"]:
        return "0/0"
    return f"{g['successes']}/{g['runs']} ({g['rate']:.1%} [{g['ci'][0]:.1%}, {g['ci'][1]:.1%}])"


def _num(v, fmt: str = ".3g") -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def _ci(pair: list, fmt: str = ".3g") -> str:
    return f"[{_num(pair[0], fmt)}, {_num(pair[1], fmt)}]"


def _best(k: dict) -> str:
    """A kind's best learning rate, or a dash when none of its runs succeeded."""
    return format(k["best_lr"], "g") if k["successes"] else "–"


def seeds_line(seeds: dict) -> str:
    """Which seeds and data streams the cells share: the design's pairing, as the records show it."""
    if seeds["paired"]:
        return (f"Seeds: **paired**. The cells of a population (those differing only in learning rate, clipping "
                f"or momentum) share initialisation seeds and one data stream: {seeds['populations']} populations, "
                f"{seeds['data_streams']} data streams for {seeds['cells_sharing_a_stream']} cells. Tests and "
                "intervals therefore treat a population (or a population's seed) as the unit, not a run.")  # fmt: skip
    return ("Seeds: **independent**. Each cell draws its own initialisation seeds and its own data stream (the "
            "seeds of one cell share that cell's stream).")  # fmt: skip


def veg_lines(v: dict) -> list[str]:
    """The VEG section: categories per phase, then the within-cell tests of each phase."""
    theta = v["threshold_decades_per_step"]
    lines = [
        "## VEG per step",
        "",
        (f"Per-step rate ρ = (‖∂L/∂h_1‖/‖∂L/∂h_T‖)^(1/(T−1)), which does not depend on T (a linear RNN with "
         f"W_uu = a·I has ρ = |a|). Vanishing: log10 ρ < −{theta:g} (ρ < {10 ** -theta:.2f}); exploding: "
         f"log10 ρ > {theta:g} (ρ > {10 ** theta:.2f}). At initialisation = the measurement at update 1; during "
         "training = the first measurement after it. Dead (r = 0 or no gradient), diverged and stopped (ended "
         "before a training measurement) runs are categories of their own, outside the VEG comparison."),
        "",
        "| category | at initialisation: runs, success | during training: runs, success |",
        "|---|---|---|",
        *[f"| {c} | {_pct(v['initialisation']['by_category'][c])} | {_pct(v['training']['by_category'][c])} |"
          for c in CATEGORIES],
        "",
    ]  # fmt: skip
    for phase in ("training", "initialisation"):
        p = v[phase]
        if "pooled" not in p:
            lines.append(f"- {phase}: VEG is {'present' if p['veg_rate'] == 1 else 'absent'} in every run with an "
                         f"answer ({p['answered']}): no comparison.")  # fmt: skip
            continue
        pool, w = p["pooled"], p["within_cells"]
        perm, mh = w["permutation"], w["mantel_haenszel"]
        text = (f"- **{phase}**: VEG in {p['veg_rate']:.1%} of {p['answered']} runs. Pooled: success with VEG "
                f"{_pct(pool['veg'])}, without {_pct(pool['no_veg'])}; difference {pool['difference']:+.1%} "
                f"{_ci(pool['difference_ci'], '+.1%')}, Fisher p = {_num(pool['p_value'], '.2g')}. Within cells: "
                f"stratified permutation p = {_num(perm['p_value'], '.2g')} ({perm['permutations']} permutations; "
                f"{perm['informative_strata']} informative cells, {perm['informative_runs']} runs); "
                f"Mantel-Haenszel odds ratio of success with VEG {_num(mh['odds_ratio'])} {_ci(mh['ci'])}")  # fmt: skip
        if "logistic" in w:
            lg = w["logistic"]
            text += (f"; logistic model with one indicator per cell, errors clustered by population "
                     f"({lg['clusters']} clusters): odds ratio {_num(lg['odds_ratio'])} {_ci(lg['ci'])}")  # fmt: skip
        lines.append(text + ".")
    return lines


def threshold_lines(rows: list[dict]) -> list[str]:
    """How the VEG answers move with θ (also the figure veg_threshold.png)."""
    return [
        "",
        "| θ (decades/step) | VEG at init | VEG in training | within-cell odds ratio (training) | permutation p |",
        "|---|---|---|---|---|",
        *[f"| {r['threshold']:.3g} | {_num(r['initialisation']['veg_rate'], '.1%')} | "
          f"{_num(r['training']['veg_rate'], '.1%')} | {_num(r['training']['odds_ratio'])} "
          f"{_ci(r['training']['ci'])} | {_num(r['training']['p_value'], '.2g')} |" for r in rows],
    ]  # fmt: skip


def lr_lines(lr: dict) -> list[str]:
    """The learning rate's share beyond the interactions of every other factor."""
    b = lr["bootstrap"]
    return [
        "",
        "## How much of success the learning rate explains",
        "",
        (f"McFadden R² (share of the null deviance explained): every factor but the learning rate, crossed (one "
         f"success probability per combination, i.e. all their interactions) {lr['other_factors_crossed']:.3f} "
         f"{_ci(lr['other_factors_crossed_ci'], '.3f')}; that plus the learning rate as a main effect "
         f"{lr['plus_lr_main_effect']:.3f}; every factor crossed (one per cell) {lr['cells']:.3f} "
         f"{_ci(lr['cells_ci'], '.3f')}. The learning rate with its interactions explains "
         f"**{lr['lr_beyond_interactions']:.3f}** {_ci(lr['lr_beyond_interactions_ci'], '.3f')} beyond the other "
         f"factors' interactions (95 % basic bootstrap intervals, {b['resamples']} resamples of the {b['units']} "
         "seed groups within their populations)."),
    ]  # fmt: skip


def _length(row: dict, rows: list[dict]) -> str:
    """The T column: the length, with the budget of updates when the sweep has several."""
    several = len({r["steps"] for r in rows}) > 1
    return f"{row['length']} ({row['steps']:,} updates)" if several else str(row["length"])


def irnn_lines(rows: list[dict]) -> list[str]:
    """The IRNN against each other kind: exact tests over all learning rates and at the best one."""
    if not rows:
        return []
    lines = ["", "## IRNN against the other kinds (exact tests)", "",
             "Over all learning rates, and at each kind's best learning rate (selected on these runs: optimistic).",
             "", ("| task | T | other kind | IRNN | other | difference (Newcombe) | odds ratio (exact) | Fisher p | "
             "at best lr: IRNN, other, p |"), "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        a, b = r["all_lrs"], r["best_lr"]
        lines.append(f"| {r['task']} | {_length(r, rows)} | {r['kind']} | {_pct(a['irnn'])} | {_pct(a['other'])} | "
                     f"{a['difference']:+.2f} {_ci(a['difference_ci'], '+.2f')} | {_num(a['odds_ratio'])} "
                     f"{_ci(a['odds_ratio_ci'])} | {a['p_value']:.2g} | {b['irnn']['successes']}/{b['irnn']['runs']}"
                     f", {b['other']['successes']}/{b['other']['runs']}, {b['p_value']:.2g} |")  # fmt: skip
    return lines


def markdown(s: dict, rows: list[dict], records: list[dict]) -> str:
    """The whole report."""
    crit = "; ".join(sorted({f"{r['settings']['task']}: {r['criterion']}" for r in records}))
    metric = "/".join(sorted({r["metric"] for r in records}))
    shown = [f for f in s["factors"] if f not in ("cell", "init")]
    rho = s["spearman_training_rate_vs_success"]
    lines = [
        f"# Sweep report: {s['runs']} trained RNNs in {s['cells']} cells" if "design_runs" not in s else
        (f"# Sweep report, part way: {s['runs']:,} of the design's {s['design_runs']:,} RNNs trained, in "
         f"{s['cells']} of its {s['design_cells']} cells (rerun the sweep to train the rest)"),
        "",
        (f"Factors: {', '.join(s['factors'])}. Success: {crit}. Intervals are 95 % (Wilson for rates). "
        f"Success overall: {s['success_rate']:.1%}."),
        "",
        seeds_line(s["seeds"]),
        "",
        *veg_lines(s["veg"]),
        (f"- Spearman ρ(|log10 ρ| during training, success) = {_num(rho['rho'], '+.3f')} {_ci(rho['ci'], '+.3f')} "
        f"(n = {rho['n']})."),
        *threshold_lines(s["threshold_sweep"]),
        *lr_lines(s["learning_rate"]),
        *irnn_lines(s["irnn_vs_kinds"]),
        "",
        "## Per model kind",
        "",
        (f"| task | T | kind | success, all learning rates | best lr | success at best lr | best {metric} reached: "
        "median over runs / best run |"),
        "|---|---|---|---|---|---|---|",
        *[f"| {k['task']} | {_length(k, s['by_kind'])} | {k['kind']} | {_pct(k)} | {_best(k)} | "
          f"{_pct(k['at_best_lr'])} | "
          f"{_num(k['median_best_metric'], '.3f')} / {_num(k['best_metric'], '.3f')} |" for k in s["by_kind"]],
        "",
        *[f"![{name}]({name})" for name in s["figures"]],
        "",
        "| kind | " + " | ".join(shown) + " | success | VEG at init | VEG in training | dead | diverged |",
        "|---|" + "---|" * (len(shown) + 5),
    ]  # fmt: skip
    for row in rows:
        values = " | ".join(f"{row[f]:g}" if isinstance(row[f], float) else str(row[f]) for f in shown)
        veg = f"{_num(row['veg_at_init'], '.0%')} | {_num(row['veg_in_training'], '.0%')}"
        lines.append(f"| {row['kind']} | {values} | {row['successes']}/{row['runs']} ({row['ci_low']:.2f}–"
                     f"{row['ci_high']:.2f}) | {veg} | {row['dead_in_training']} | {row['diverged']} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def short(s: dict) -> str:
    """Three lines for the terminal."""
    t = s["veg"]["training"]
    lr = s["learning_rate"]
    within = t.get("within_cells", {}).get("permutation", {}).get("p_value")
    part = f" (of the design's {s['design_runs']:,}: part way)" if "design_runs" in s else ""
    return (
        f"{s['runs']} runs{part} in {s['cells']} cells: {s['success_rate']:.1%} succeeded; VEG during training "
        f"(per step, θ = {THRESHOLD:g}) in {_num(t['veg_rate'], '.1%')} of {t['answered']} runs\n"
        f"VEG during training against success within cells: permutation p = {_num(within, '.2g')}\n"
        f"learning rate beyond the other factors' interactions: McFadden R² {lr['lr_beyond_interactions']:.3f} "
        f"{_ci(lr['lr_beyond_interactions_ci'], '.3f')}"
    )
