# Copyright 2026 FinnSys
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl-3.0).
{
    "name": "FinnSys Billing Portal",
    "summary": "Customer portal for FinnSys Billing: balance, invoices and payments",
    "version": "19.0.1.0.0",
    "category": "Accounting",
    "website": "https://github.com/finnsys/finnsys-billing",
    "author": "FinnSys",
    "license": "AGPL-3",
    "depends": ["finnsys_billing", "portal", "account_payment", "auth_signup"],
    "data": [
        "security/ir.model.access.csv",
        "data/mail_template_login_code.xml",
        "data/mail_template_payment_receipt.xml",
        "data/ir_cron_login.xml",
        "views/login_code_templates.xml",
        "views/finnsys_login_event_views.xml",
        "views/res_partner_views.xml",
        "views/res_config_settings_views.xml",
        "views/portal_dashboard_templates.xml",
        "views/portal_invoices_templates.xml",
        "views/portal_invoice_pay_templates.xml",
        "views/portal_payment_templates.xml",
        "views/portal_payments_templates.xml",
        "views/portal_topup_templates.xml",
        "views/portal_subscription_templates.xml",
        "views/portal_billing_info_templates.xml",
        "views/portal_terms_templates.xml",
        "views/portal_statement_templates.xml",
    ],
    "demo": [
        "demo/res_users_demo.xml",
        "demo/payment_token_demo.xml",
        "demo/finnsys_surcharge_rule_demo.xml",
    ],
    "assets": {
        "web.assets_frontend": [
            "finnsys_billing_portal/static/src/interactions/*.js",
        ],
        "web.assets_tests": [
            "finnsys_billing_portal/static/tests/tours/*.js",
        ],
    },
}
