"""Pure domain layer: values, CIP-30 CBOR, Plutus datums, pricing, fees. No I/O."""
