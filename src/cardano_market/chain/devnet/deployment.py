"""Which marketplace scripts a devnet deploys: the project's own (default) or another set, such as
NEWM's deployed mainnet validators, behind the parameters they were built with.

A deployment is the starter NFT and the reference-data script hash the validators have baked in,
plus the four scripts in the ledger's form (one CBOR byte string around the flat bytes):
pointer minting policy, sale, queue and vault validators. The pointer policy is always the
project's (applied to the deployment's starter NFT): the reference datum names it, and nothing
else checks which policy it is.

Scripts come from cardano-cli text envelopes (`PlutusScriptV3`, parameters applied), read from a
directory holding `sale.plutus`, `queue.plutus` and `vault.plutus`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import cbor2

from ...domain.address import script_address
from ...domain.errors import SeedError
from ...domain.hashes import script_hash
from ...domain.values import AssetId
from ...ledger.scripts import PLUTUS_V3

STARTER_NAME = b"NEWMarketplace"
_LABEL = "cardano-market devnet"
VALIDATORS = ("sale", "queue", "vault")
"""The validators a deployment directory holds (`<name>.plutus`)."""


def label_hash(label: str) -> bytes:
    """A 28-byte stand-in hash derived from a devnet label."""
    return hashlib.blake2b(f"{_LABEL} {label}".encode(), digest_size=28).digest()


PROJECT_STARTER_NFT: AssetId = (label_hash("starter"), STARTER_NAME)
PROJECT_REFERENCE_DATA_HASH = label_hash("reference data")
"""The devnet's reference-data address (no script exists behind it: nothing spends it)."""


@dataclass(frozen=True)
class Deployment:
    """The marketplace scripts a devnet seed deploys, with the parameters baked into them."""

    name: str  # "project", or where the scripts were read from
    starter_nft: AssetId
    reference_data_hash: bytes  # the payment script hash of the reference-data address
    pointer_script: bytes
    sale_script: bytes
    queue_script: bytes
    vault_script: bytes

    @property
    def scripts(self) -> tuple[bytes, bytes, bytes, bytes]:
        """Pointer, sale, queue and vault, the order the seed deploys them in."""
        return (self.pointer_script, self.sale_script, self.queue_script, self.vault_script)

    @functools.cached_property
    def pointer_policy(self) -> bytes:
        return script_hash(PLUTUS_V3, self.pointer_script)

    @functools.cached_property
    def sale_script_hash(self) -> bytes:
        return script_hash(PLUTUS_V3, self.sale_script)

    @functools.cached_property
    def queue_script_hash(self) -> bytes:
        return script_hash(PLUTUS_V3, self.queue_script)

    @functools.cached_property
    def vault_script_hash(self) -> bytes:
        return script_hash(PLUTUS_V3, self.vault_script)

    def reference_data_address(self, network_id: int) -> bytes:
        return script_address(self.reference_data_hash, None, network_id)


def _starter_parameters(starter: AssetId) -> tuple[bytes, bytes]:
    return cbor2.dumps(starter[0]), cbor2.dumps(starter[1])


def project_pointer_script(starter: AssetId, *, traced: bool = False) -> bytes:
    """The project's pointer minting policy applied to `starter` (ledger form)."""
    from ...contracts import load_applied  # imports uplc: only when a seed is applied

    return load_applied("pointer", *_starter_parameters(starter), traced=traced)


@functools.cache
def project_deployment(*, traced: bool = False) -> Deployment:
    """The project's OpShin validators applied to the devnet's starter NFT: the deployed
    (trace-free) build, or with `traced` the build whose failures say why (for debugging)."""
    from ...contracts import load_applied

    parameters = _starter_parameters(PROJECT_STARTER_NFT)
    sale, queue, vault = (load_applied(name, *parameters, traced=traced) for name in VALIDATORS)
    return Deployment(
        "project (traced)" if traced else "project",
        PROJECT_STARTER_NFT,
        PROJECT_REFERENCE_DATA_HASH,
        project_pointer_script(PROJECT_STARTER_NFT, traced=traced),
        sale,
        queue,
        vault,
    )


def deployment_from_directory(
    directory: Path, starter_nft: AssetId, reference_data_hash: bytes, *, path: str = "$"
) -> Deployment:
    """Validators already applied to `starter_nft` and `reference_data_hash`, read from
    `directory`; SeedError (naming `path`) when a file is missing or not a V3 script."""
    scripts: list[bytes] = []
    for name in VALIDATORS:
        file = directory / f"{name}.plutus"
        try:
            envelope = json.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SeedError(path, f"cannot read the {name} validator at {file}: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise SeedError(path, f"{file} is not a JSON text envelope: {exc}") from exc
        if not isinstance(envelope, dict) or envelope.get("type") != "PlutusScriptV3":
            raise SeedError(path, f"{file} is not a PlutusScriptV3 text envelope")
        try:
            script = cbor2.loads(bytes.fromhex(str(envelope.get("cborHex", ""))))
        except (ValueError, cbor2.CBORDecodeError) as exc:
            raise SeedError(path, f"{file}: cborHex is not CBOR hex: {exc}") from exc
        if not isinstance(script, bytes) or not script:
            raise SeedError(path, f"{file}: cborHex is not a CBOR byte string")
        scripts.append(script)
    sale, queue, vault = scripts
    return Deployment(
        str(directory),
        starter_nft,
        reference_data_hash,
        project_pointer_script(starter_nft),
        sale,
        queue,
        vault,
    )
