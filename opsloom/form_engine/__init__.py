"""The form engine: entities and fields as real tables, the record service, queries, import and export.

Public face (the flow, rule and report engines use only these)::

    RecordService            create / read / update / delete / query records, with permissions
    get_model(...)           the compiled, published version of an entity (fields, table)
    FieldType, FieldContext  the field-type contract plugins implement
"""
