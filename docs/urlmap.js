// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Where links to the dependencies' reference documentation point. gi-docgen
// resolves [class@GLib.MainContext] and the like through this map.
baseURLs = [
    ['GLib', 'https://docs.gtk.org/glib/'],
    ['GObject', 'https://docs.gtk.org/gobject/'],
    ['Gio', 'https://docs.gtk.org/gio/'],
]
