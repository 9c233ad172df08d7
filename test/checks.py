"""What the SQL-level Python tests (test/test_*.py) share: check counting
and the "N passed, M failed" last line."""

passed = failed = 0


def check(ok, what):
    """Record one check; print it when it fails."""
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def done():
    """Print the summary line; the exit status of the test."""
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0
