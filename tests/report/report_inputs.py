"""User text that must reach report.html literally: a formula that is markup, a path with
rich's closing tag "[/]", an ampersand and HTML."""

HOSTILE_FORMULA = '<script>alert("pwned")</script>'
HOSTILE_PATH = "/data/[/]bold & <i>odd</i>/spam.csv"
