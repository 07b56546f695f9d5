import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("finnsys_portal_invitation_signup", {
    steps: () => [
        {
            content: "The invitation opens the 'create your password' form",
            trigger: "form.oe_signup_form input[name=password]",
            run: "edit Invited-Pass-2026",
        },
        {
            content: "Confirm the password",
            trigger: "form.oe_signup_form input[name=confirm_password]",
            run: "edit Invited-Pass-2026",
        },
        {
            content: "Create the account",
            trigger: "form.oe_signup_form button[type=submit]",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Logged in, on the customer portal",
            trigger: ".o_portal_my_home",
        },
    ],
});
