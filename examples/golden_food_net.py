"""food_net (SEED_RTL.md's 112x112x3 accelerator network) as a golden model, end to end.

    python examples/golden_food_net.py [IMAGE] [OUT_DIR]

1. runs food_net in the accelerator's truncating float32 arithmetic (TruncatedFloat32, with its
   adder trees, B-G-R first layer and sequential dense order),
2. writes the memory files a testbench reads (SEED_RTL.md's dump format, one file per channel),
3. traces one output pixel of the first convolution (every product and partial sum),
4. writes the HTML report of golden vs float model (with --dumps DIR, `tichchap golden report`
   compares the RTL's own dumps instead).

Without IMAGE a synthetic picture is used; the weights are food_net's seeded initial ones (load a
trained model with tichchap.load_model instead).
"""

import os
import sys

import numpy as np

from tichchap import applications, utils
from tichchap.hardware import GoldenModel, TruncatedFloat32, build_report


def main():
    image_path = sys.argv[1] if len(sys.argv) > 1 else None
    out_dir = sys.argv[2] if len(sys.argv) > 2 else "golden_food_net"
    utils.set_random_seed(0)
    model = applications.food_net()
    if image_path:
        from tichchap.hardware.cli import load_input

        x = load_input(image_path, model)
    else:
        rows, cols = np.mgrid[0:112, 0:112] / 111.0
        x = np.stack([rows, cols, 1 - rows * cols], axis=-1)[None]        # a smooth synthetic picture in [0, 1]
    golden = GoldenModel(model, TruncatedFloat32())
    manifest = golden.export(os.path.join(out_dir, "memory"), x, file_format="seed", layout="per_channel")
    print(f"memory files for {len(manifest['layers'])} layers in {os.path.join(out_dir, 'memory')}")
    golden.trace_pixel("conv2d", (0, 0, 0, 0))
    print("class probabilities (softmax in software):", golden.predict(x).round(4).tolist())
    report = build_report(golden, x, out_dir=os.path.join(out_dir, "report"), tolerance=0)
    for name, layer in report["layers"].items():
        result = layer["result"]
        print(f"{name:<18} golden vs float: {100 * result.exact_share:6.2f}% bit-exact, max {result.max_lsb:g} ULP")
    print(f"report: {report['path']}")


if __name__ == "__main__":
    main()
