"""Print each benchmark's natural units (extra_info) at the end of a benchmark run."""


def pytest_terminal_summary(terminalreporter, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or session.disabled:
        return
    terminalreporter.section("natural units")
    for bench in session.benchmarks:
        info = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in bench.extra_info.items())
        terminalreporter.write_line(f"{bench.name}: {info}")
