// Loaded in <head> without defer: styles that need JavaScript apply before the first paint.
document.documentElement.classList.add("js");
