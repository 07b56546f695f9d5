# Copyright 2026 FinnSys
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl-3.0).
{
    "name": "FinnSys Billing",
    "summary": "Prepaid and postpaid customer billing on Odoo's ledger",
    "version": "19.0.1.0.0",
    "category": "Accounting",
    "website": "https://github.com/finnsys/finnsys-billing",
    "author": "FinnSys",
    "license": "LGPL-3",
    "application": True,
    "depends": ["account", "payment", "mail"],
    "data": [
        "security/res_groups.xml",
        "security/ir.model.access.csv",
        "security/ir_rule.xml",
        "wizards/finnsys_credit_override_views.xml",
        "wizards/finnsys_billing_mode_switch_views.xml",
        "views/res_partner_views.xml",
        "views/finnsys_billing_account_views.xml",
        "views/account_payment_views.xml",
        "views/res_config_settings_views.xml",
        "data/ir_sequence_data.xml",
        "views/finnsys_withdrawal_views.xml",
        "wizards/finnsys_payment_receive_views.xml",
        "wizards/finnsys_credit_issue_views.xml",
        "views/menus.xml",
    ],
    "demo": [
        "demo/res_users_demo.xml",
        "demo/res_partner_demo.xml",
        "demo/account_move_demo.xml",
    ],
}
