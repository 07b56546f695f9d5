import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("finnsys_portal_statement_tour", {
    steps: () => [
        {
            content: "Open the statement from the dashboard",
            trigger: "a.o_billing_statement_link",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The breadcrumbs say where the customer is",
            trigger: ".o_portal_submenu .breadcrumb-item.active:contains(Statement of account)",
        },
        {
            content: "Last month's statement is shown, with its closing balance",
            trigger: ".o_billing_statement_closing:contains(150.00)",
        },
        {
            content: "Choose the whole of 2026 so far",
            trigger: "input[name=date_from]",
            run() {
                // A date input takes its value as the browser's date picker sets it.
                this.anchor.value = "2026-01-01";
            },
        },
        {
            content: "Up to the 20th of March",
            trigger: "input[name=date_to]",
            run() {
                this.anchor.value = "2026-03-20";
            },
        },
        {
            content: "Show it",
            trigger: "button.o_billing_statement_show",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The January invoice is in the period now",
            trigger: ".o_finnsys_statement_lines tr[data-kind=invoice]:contains(2026)",
        },
        {
            content: "The balance starts at zero and ends with what is owed on 20 March",
            trigger: ".o_billing_statement_opening:contains(0.00)",
        },
        {
            content: "The closing balance of the new period",
            trigger: ".o_billing_statement_closing:contains(250.00)",
        },
        {
            content: "The PDF link carries the chosen period",
            trigger: "a.o_billing_statement_pdf[href*='date_from=2026-01-01'][href*='date_to=2026-03-20']",
        },
    ],
});

/** Throw unless the page fits the width of the screen (nothing cut off on a phone). */
function assertFitsTheScreen(what) {
    const page = document.documentElement;
    if (page.scrollWidth > window.innerWidth + 1) {
        throw new Error(
            `${what}: the page is ${page.scrollWidth}px wide on a ${window.innerWidth}px screen`
        );
    }
}

registry.category("web_tour.tours").add("finnsys_portal_statement_phone_tour", {
    steps: () => [
        {
            content: "The statement of the first quarter, with its lines",
            trigger: ".o_finnsys_statement_lines tr[data-kind=payment]",
            run() {
                assertFitsTheScreen("Statement");
            },
        },
        {
            content: "Each table scrolls sideways on its own, its scroll bar right under it",
            trigger: ".table-responsive:has(.o_finnsys_statement_aging)",
            run() {
                for (const table of document.querySelectorAll(".o_billing_statement table")) {
                    const scroller = table.parentElement;
                    if (
                        !scroller.classList.contains("table-responsive") ||
                        scroller.children.length !== 1 ||
                        getComputedStyle(scroller).overflowX !== "auto"
                    ) {
                        throw new Error(`${table.className} does not scroll on its own`);
                    }
                }
            },
        },
        {
            content: "Scroll the statement table to its balance column",
            trigger: ".table-responsive:has(.o_finnsys_statement_lines)",
            run() {
                this.anchor.scrollLeft = this.anchor.scrollWidth;
            },
        },
        {
            content: "The closing balance can be read",
            trigger: ".o_finnsys_statement_closing_amount:contains(150.00)",
        },
        {
            content: "The breadcrumbs say where the customer is",
            trigger: ".o_portal_submenu .breadcrumb-item.active:contains(Statement of account)",
        },
    ],
});
