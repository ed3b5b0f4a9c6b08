"""dagc.benchmarks: performance comparisons (ratios against PyTorch eager and ONNX Runtime from one run)."""
