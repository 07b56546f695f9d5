"""The FinnSys developer CLI behind ``finnsys.py``; standard library only, because it runs
before any requirement (Odoo included) is installed."""
