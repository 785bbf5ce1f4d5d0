"""Reports of scenario runs: a self-contained HTML report per run, a trend index, an acceptance report.

    render_run(run_dir)            -> run_dir/report.html
    render_acceptance(run_dir)     -> run_dir/acceptance.html
    render_index(reports_dir)      -> reports_dir/index.html

The inputs are described in docs/results.md; the reports in docs/report.md.
"""

from harness.report.acceptance import render_acceptance
from harness.report.index import render_index
from harness.report.run_folder import RunFolderError
from harness.report.run_report import render_run

__all__ = ["RunFolderError", "render_acceptance", "render_index", "render_run"]
