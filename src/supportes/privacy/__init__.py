"""Personal data (design section 9): per-subject field encryption for crypto-shredded erasure.

Which fields are personal is declared in the domain (:mod:`supportes.aggregates.personal`);
this package holds the cipher (:mod:`.cipher`) and, as it grows, the subject key store and the
erasure operations.
"""
