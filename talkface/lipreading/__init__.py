"""A GRID sentence lipreader: mouth crops -> per-frame word posteriors -> grammar-constrained sentence.

Used to measure how readable generated speech is (WER next to the same reader's WER on real video).
"""
