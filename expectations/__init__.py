"""Great Expectations suites as code, one per table (DESIGN §6).

``contracts`` holds every coverage target and validity rule in one place; ``suites`` turns a
contract into a GX 1.x ``ExpectationSuite``. ``coinfill.validation`` runs them in the database.
"""
