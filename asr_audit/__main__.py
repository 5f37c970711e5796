from asr_audit.app.cli import run

run()
