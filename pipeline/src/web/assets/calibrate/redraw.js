// The page is drawn again from the state after each change. main.js registers the drawing here,
// so a module that changes something need not import the drawing (which imports it).

let drawPage = () => {};

export function setPageDrawing(draw) { drawPage = draw; }

export function redraw() { drawPage(); }
