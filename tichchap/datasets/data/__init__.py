"""Data files shipped inside the package (the embedded Fashion-MNIST sample)."""
