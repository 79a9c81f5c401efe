{{ config(materialized='table') }}
-- Every column the project marks as PII (column meta `pii`, from schemas/ through the generated
-- sources and the models' yml), with the fully qualified name ACCESS_HISTORY uses for it.
{{ pii_column_rows() }}
