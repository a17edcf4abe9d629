"""The project's promise for bad input, as the tests check it: exit status 2 and one line
``error: ...`` on stderr, naming what is wrong."""


def one_line_error(status, err, *fragments):
    """Assert the status is 2 and stderr is one ``error:`` line holding every fragment."""
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
