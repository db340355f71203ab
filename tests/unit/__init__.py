"""Pure tests, laid out like the source: ``tests/unit/<package>/test_<module>.py`` tests
``src/dynopypi/<package>/<module>.py``. No process starts here (``make unit`` proves it:
see ``support.processes``); what needs a server, a real client, nginx or SeaweedFS is in
tests/app (the app in this process), tests/e2e, tests/security or tests/deploy."""
