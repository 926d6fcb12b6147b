"""Azure Functions entry point (Python v2 programming model): a thin shell over the exporter.

The schedule is the app setting EXPORT_SCHEDULE (NCRONTAB, default weekly on Sunday at
00:00 UTC, set by the infrastructure). A partial or failed export raises after writing what
it has, so the run shows as failed in monitoring and the alert fires.
"""

import logging

import azure.functions as func

from spotify_exporter.scheduled import run_scheduled_export

app = func.FunctionApp()


@app.timer_trigger(schedule="%EXPORT_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def weekly_export(timer: func.TimerRequest) -> None:
    """Export the Spotify account into a new snapshot in the `spotify` container."""
    if timer.past_due:
        logging.warning("the weekly Spotify export is running late (the timer was past due)")
    run_scheduled_export()
