"""proctorhub benchmark: ``python -m bench --help`` (see README "Benchmark")."""
