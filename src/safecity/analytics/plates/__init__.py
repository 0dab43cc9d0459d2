"""Number plate reading: engines behind one ABC, layouts per jurisdiction as data, a confidence floor."""

from safecity.analytics.plates.base import PlateReader, PlateReaderConfig, build_reader, reader_types
from safecity.analytics.plates.types import CharRead, PlateRead

__all__ = ["CharRead", "PlateRead", "PlateReader", "PlateReaderConfig", "build_reader", "reader_types"]
