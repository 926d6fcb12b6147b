"""Azure Functions entry point (Python v2 programming model): a thin shell over the exporter.

* ``weekly_export`` (timer, app setting ``EXPORT_SCHEDULE``, NCRONTAB, weekly by default): puts
  one export request per account (``EXPORT_ACCOUNTS``) on the queue ``spotify-exports``.
* ``export_account`` (queue trigger): runs one export per message, one at a time for the whole
  app (``host.json`` and a blob lease: every account shares one Spotify rate limit). A run cut
  short by a long ``Retry-After`` queues its own resume; any other partial or failed export
  raises, so the runtime retries it and, after the last attempt, moves it to the poison queue.
* ``export_gave_up`` (queue trigger on ``spotify-exports-poison``): logs the error the alert
  e-mails you about.

Both queue triggers use the identity-based connection ``EXPORT_QUEUE``
(``EXPORT_QUEUE__queueServiceUri``), no keys.
"""

import logging

import azure.functions as func

from spotify_exporter.export_queue import CONNECTION, POISON_QUEUE_NAME, QUEUE_NAME
from spotify_exporter.scheduled import enqueue_exports, report_gave_up, run_queued_export

app = func.FunctionApp()


@app.timer_trigger(schedule="%EXPORT_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def weekly_export(timer: func.TimerRequest) -> None:
    """Queue this week's export of every account."""
    if timer.past_due:
        logging.warning("the weekly Spotify export is running late (the timer was past due)")
    enqueue_exports()


@app.queue_trigger(arg_name="message", queue_name=QUEUE_NAME, connection=CONNECTION)
def export_account(message: func.QueueMessage) -> None:
    """Export the account a message names into a snapshot in the ``spotify`` container (or finish one)."""
    run_queued_export(message.get_body(), _dequeue_count(message))


@app.queue_trigger(arg_name="message", queue_name=POISON_QUEUE_NAME, connection=CONNECTION)
def export_gave_up(message: func.QueueMessage) -> None:
    """A request the runtime stopped retrying: say so, as an error the alert picks up."""
    report_gave_up(message.get_body())


def _dequeue_count(message: func.QueueMessage) -> int:
    count = getattr(message, "dequeue_count", None)  # the worker's QueueMessage has it; the base class not
    return int(count) if isinstance(count, int) else 1
