"""Key pairs made once per test run (never committed, never used anywhere real)."""

from bot.emulator.delivery import Signer

SIGNER = Signer()
OTHER_SIGNER = Signer()
PUBLIC_PEM = SIGNER.public_pem
