"""Data quality of the records: bulk imports (CSV, SQL), duplicate persons merged reversibly, conflicts."""
