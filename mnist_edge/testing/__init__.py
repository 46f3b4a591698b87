"""Test-only code (synthetic camera scenes) for tests and benchmarks; excluded from the wheel."""
