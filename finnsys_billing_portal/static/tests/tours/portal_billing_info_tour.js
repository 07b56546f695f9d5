import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("finnsys_portal_edit_billing_info_tour", {
    steps: () => [
        {
            content: "Edit billing info from the profile card",
            trigger: ".o_billing_card_profile a.o_billing_edit_info",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The form is about the company",
            trigger: ".o_billing_info_form input[name=name]:value(Portal Postpaid Co)",
        },
        {
            content: "Street",
            trigger: ".o_billing_info_form input[name=street]",
            run: "edit Rue Haute 1",
        },
        {
            content: "Zip",
            trigger: ".o_billing_info_form input[name=zip]",
            run: "edit 1000",
        },
        {
            content: "City",
            trigger: ".o_billing_info_form input[name=city]",
            run: "edit Brussels",
        },
        {
            content: "Billing e-mail",
            trigger: ".o_billing_info_form input[name=email]",
            run: "edit invoices@postpaid.example",
        },
        {
            content: "Country",
            trigger: ".o_billing_info_form select[name=country_id]",
            run: "selectByLabel Belgium",
        },
        {
            content: "Save",
            trigger: ".o_billing_info_save",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Saved",
            trigger: ".o_billing_info_saved",
        },
        {
            content: "Back to the dashboard",
            trigger: "a.o_billing_info_back",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The profile card shows the new address",
            trigger: ".o_billing_card_profile .o_billing_profile_address:contains(Rue Haute 1)",
        },
    ],
});
