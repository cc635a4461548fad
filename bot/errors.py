"""recbot's exceptions share one base, so that "anything recbot raised on purpose" is one `except`.

Each class lives beside the code that raises it; this is the whole tree (docs/architecture.md, "Errors"):

    RecbotError
    ├── ConfigError            bot/config.py        settings missing or malformed, one line each
    ├── StoreError             bot/store/engine.py  the database refused this work; nothing of it was written
    │   ├── StoreBusy                               locked, timed out, unreachable or failing: try again later
    │   └── Duplicate                               a unique key is taken (SQLite IntegrityError, psycopg
    │                                               UniqueViolation alike); trying again cannot help
    ├── SealError              bot/store/sealed.py  a sealed secret this REC_SECRET_KEY cannot open
    ├── PlatformError          bot/platform/client.py   the platform refused or could not answer
    │   ├── NotFound, Conflict, InvalidRequest, RateLimited, PlatformUnavailable
    │   └── Unauthorized
    │       └── Disconnected
    ├── WebhookError           bot/platform/webhooks.py  a delivery that cannot be taken
    │   ├── SignatureError                          its signature does not verify
    │   └── WebhookParseError                       its body is not a webhook
    ├── NotInstalled           bot/slack/installs.py     a workspace with no token
    ├── RefreshFailed          bot/slack/installs.py     Slack did not refresh a token this time: wait
    │   └── NeedsReinstall                               its refresh token spent and its token expired
    ├── RespondFailed          bot/slack/sender.py       a response_url that refused the answer
    ├── PortBusy               bot/asgi_server.py        the port to listen on is taken
    ├── EmuError               bot/emulator/errors.py    the emulated platform's refusal (an HTTP status)
    └── signals inside the service, never seen outside it:
        Stale (bot/service/decisions.py), Outdated and RetryLater (bot/service/truth.py)

`Unparsed` (bot/slack/grammar.py), what `parse` returns for text that is no command, is not an exception.
"""


class RecbotError(Exception):
    """Every exception recbot raises on purpose."""
