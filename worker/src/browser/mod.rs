//! The worker's browser: chromedriver and the Chromium it launches, and the WebDriver client
//! through which everything else talks to the page.

pub mod launch;
pub mod webdriver;
