"""The emulated platform's refusals: an HTTP status and the platform's words."""

from bot.errors import RecbotError


class EmuError(RecbotError):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message
