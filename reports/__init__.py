"""The period's report: its figures and their renderings, one implementation behind the
`hotline report` command and the console."""
