"""datum_echo: a spend validator that passes when the redeemer equals the spent output's datum.

The project's smallest own validator (OpShin, Plutus V3): the devnet's Plutus evaluation is tested
by locking a UTxO with it and spending it with a matching and a mismatching redeemer.
"""

from opshin.prelude import *


def validator(context: ScriptContext) -> None:
    purpose = context.purpose
    assert isinstance(purpose, Spending), "datum_echo only guards spending"
    datum = own_datum_unsafe(context)
    assert context.redeemer == datum, "redeemer does not match the datum"
