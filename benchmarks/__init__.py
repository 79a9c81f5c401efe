"""Reproducible performance measurements; `make bench` runs them and prints ratios."""
